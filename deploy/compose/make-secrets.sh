#!/bin/sh
# Create deploy/compose/secrets/ for compose.yaml. Generates the Redis password and the
# cookie secret if they are missing; the OIDC client secret (from your IdP) and the
# management password (OpenVPN's `management ... PASSWORD-FILE`, first line) you put in
# yourself:  printf '%s\n' 'the-secret' > secrets/client-secret
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets
chmod 0700 secrets
for name in redis-password cookie-secret; do
    [ -s "secrets/$name" ] || openssl rand -hex 32 > "secrets/$name"
done
missing=""
for name in client-secret vpn1-mgmt-password; do
    [ -s "secrets/$name" ] || missing="$missing secrets/$name"
done
# The service runs as uid/gid 10001 in its container and must read the files; compose
# bind-mounts them with the host's owner and mode.
for f in secrets/*; do
    if [ "$(id -u)" = 0 ]; then chgrp 10001 "$f" && chmod 0640 "$f"; else chmod 0644 "$f"; fi
done
if [ -n "$missing" ]; then
    echo "still missing:$missing" >&2
    exit 1
fi
echo "secrets ready in $(pwd)/secrets"
