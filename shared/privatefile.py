"""Small files the hook keeps in OpenVPN's tmp-dir (the parsed-config cache, the
Redis node that answered last): read only if they are ours, not writable by
others and not a symlink; written atomically. Import-light: the hook uses it."""

from __future__ import annotations

import os  # loaded at interpreter start-up anyway: free


def read_private(path: str) -> bytes | None:
    """The file's bytes, or None if it is absent, unreadable or not trusted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_private(path: str, data: bytes) -> None:
    """Replace the file with ``data`` (mode 0600) in one step; best effort."""
    tmp = f"{path}.{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:  # noqa: SIM105 (contextlib would cost the hook start-up time)
            os.unlink(tmp)
        except OSError:
            pass
