"""Who may connect: a pure decision over validated ID token claims.

Rules come from the TOML file (``[[policy.allow]]``, ``[[policy.deny]]``, or per
server). A rule matches when every condition it names matches; a condition is
any-of: ``groups``, Keycloak ``realm_roles`` (``realm_access.roles``) and
``client_roles`` (``resource_access.<client>.roles``), ``email_domains``, and
``claims`` by path. No deny rule may match, and if allow rules exist one must.

Claims come from the IdP and are data, never code: they are type-checked here
and escaped by each place that shows them. No expression language, no eval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callback_service.i18n import Text, text
from shared.escape import one_line

MAX_USERNAME = 128


@dataclass(frozen=True)
class Decision:
    allowed: bool
    username: str
    message: Text | None = None  # why not, for pages (translated) and, as str(), OpenVPN
    groups: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        return str(self.message) if self.message else ""


def claim_path(claims: dict[str, Any], path: str) -> Any:
    """``a.b.c`` looks up nested claims (Keycloak's ``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _strings(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, bool):  # JSON true/false, as configs would write them
        raw = [str(raw).lower()]
    elif isinstance(raw, str | int | float):
        raw = [str(raw)]
    if not isinstance(raw, list):
        return ()
    return tuple(g for g in raw if isinstance(g, str) and g)


def claim_groups(claims: dict[str, Any], groups_claim: str) -> tuple[str, ...]:
    """Group names from the claim; Keycloak's full paths ``/vpn-users`` count as
    ``vpn-users`` too, so either spelling can be configured."""
    return _strings(claim_path(claims, groups_claim))


def _norm_groups(groups: tuple[str, ...] | list[str]) -> set[str]:
    return {g.lstrip("/") for g in groups}


@dataclass(frozen=True)
class Subject:
    """What rules look at, extracted once from the claims."""

    claims: dict[str, Any]
    groups: frozenset[str]
    realm_roles: frozenset[str]
    email_domain: str
    client_id: str

    @staticmethod
    def from_claims(claims: dict[str, Any], *, groups_claim: str, client_id: str) -> Subject:
        email = claim_path(claims, "email")
        verified = claim_path(claims, "email_verified")
        # An unverified address says nothing about its domain's owner.
        domain = (email.rsplit("@", 1)[1].casefold()
                  if isinstance(email, str) and "@" in email and verified is not False else "")
        return Subject(claims, frozenset(_norm_groups(claim_groups(claims, groups_claim))),
                       frozenset(_strings(claim_path(claims, "realm_access.roles"))), domain,
                       client_id)

    def client_roles(self, client: str) -> set[str]:
        access = self.claims.get("resource_access")
        entry = access.get(client) if isinstance(access, dict) else None
        return set(_strings(entry.get("roles"))) if isinstance(entry, dict) else set()


def rule_matches(rule: dict[str, Any], s: Subject) -> bool:
    """Every condition of the rule holds (each is any-of)."""
    if "groups" in rule and not _norm_groups(rule["groups"]) & s.groups:
        return False
    if "realm_roles" in rule and not set(rule["realm_roles"]) & s.realm_roles:
        return False
    if "client_roles" in rule and not set(rule["client_roles"]) & s.client_roles(
            rule.get("client") or s.client_id):
        return False
    if "email_domains" in rule and s.email_domain not in {
            d.casefold().lstrip("@") for d in rule["email_domains"]}:
        return False
    for path, wanted in rule.get("claims", {}).items():
        if not set(_strings(claim_path(s.claims, path))) & set(wanted):
            return False
    return True


def describe(rule: dict[str, Any]) -> str:
    parts = []
    for key, label in (("groups", "groups"), ("realm_roles", "realm roles"),
                       ("client_roles", "client roles"), ("email_domains", "email domains")):
        if key in rule:
            parts.append(f"{label} {', '.join(rule[key])}")
    parts += [f"{path} in {', '.join(v)}" for path, v in rule.get("claims", {}).items()]
    return " and ".join(parts)


def decide(subject: Subject, *, username_claim: str, allow: list[dict[str, Any]],
           deny: list[dict[str, Any]], server_label: str) -> Decision:
    raw_name = claim_path(subject.claims, username_claim)
    if not isinstance(raw_name, str) or not raw_name.strip():
        return Decision(False, "", text(
            "Your account has no '{claim}' at the identity provider, so it cannot be used for "
            "the VPN: contact your administrator", claim=username_claim))
    username = one_line(raw_name, MAX_USERNAME)
    groups = tuple(sorted(subject.groups))
    for rule in deny:
        if rule_matches(rule, subject):
            message = Text(rule["reason"]) if rule.get("reason") else text(
                "Access denied: {user} is refused on VPN server {server} ({rule})",
                user=username, server=server_label, rule=describe(rule))
            return Decision(False, username, message, groups)
    if allow and not any(rule_matches(rule, subject) for rule in allow):
        if all(set(rule) <= {"groups", "reason"} for rule in allow):
            names = [g for rule in allow for g in rule["groups"]]
            message = text("Access denied: {user} is not in any of the groups allowed on VPN "
                           "server {server} ({groups})", user=username, server=server_label,
                           groups=", ".join(names))
        else:
            message = text("Access denied: {user} matches none of the rules of VPN server "
                           "{server}: {rules}", user=username, server=server_label,
                           rules="; or ".join(describe(r) for r in allow))
        return Decision(False, username, message, groups)
    return Decision(True, username, None, groups)
