"""Who may connect: a pure decision over validated ID token claims.

Claims come from the IdP and are treated as data, never as code: they are
type-checked and length-limited here, and escaped by each place that shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.escape import one_line

MAX_USERNAME = 128


@dataclass(frozen=True)
class Decision:
    allowed: bool
    username: str
    reason: str = ""
    groups: tuple[str, ...] = ()


def claim_path(claims: dict[str, Any], path: str) -> Any:
    """``a.b.c`` looks up nested claims (Keycloak's ``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def claim_groups(claims: dict[str, Any], groups_claim: str) -> tuple[str, ...]:
    """Group names from the claim; Keycloak's full paths ``/vpn-users`` count as
    ``vpn-users`` too, so either spelling can be configured."""
    raw = claim_path(claims, groups_claim)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return ()
    return tuple(g for g in raw if isinstance(g, str) and g)


def decide(claims: dict[str, Any], *, username_claim: str, groups_claim: str,
           allowed_groups: list[str], server_label: str) -> Decision:
    raw_name = claim_path(claims, username_claim)
    if not isinstance(raw_name, str) or not raw_name.strip():
        return Decision(False, "", f"Your account has no '{username_claim}' at the identity "
                        "provider, so it cannot be used for the VPN: contact your administrator")
    username = one_line(raw_name, MAX_USERNAME)
    groups = claim_groups(claims, groups_claim)
    allowed = {g.lstrip("/") for g in allowed_groups}
    if allowed and not {g.lstrip("/") for g in groups} & allowed:
        return Decision(False, username,
                        f"Access denied: {username} is not in any of the groups allowed on "
                        f"VPN server {server_label} ({', '.join(allowed_groups)})", groups)
    return Decision(True, username, "", groups)
