"""Escaping for every place untrusted text goes, one function per sink.

Untrusted text here is anything a VPN client (common name, username, ``IV_*``),
an IdP (claims) or a browser sent. Import-light: the hook uses it.
"""

from __future__ import annotations

# C0 controls, DEL and C1 controls, plus Unicode line/paragraph separators.
_CONTROLS = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
_TO_SPACE = {c: " " for c in _CONTROLS}
_TO_ESCAPE = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS}

# AUTH_FAILED reasons that start like this change what an OpenVPN client does:
# TEMP = temporary failure (retry), CRV1: = challenge/response, SESSION: = token.
_CLIENT_PREFIXES = ("TEMP", "CRV1:", "SESSION:")
# OpenVPN's management parser keeps at most 255 bytes of one parameter.
MAX_MGMT_PARAM = 250
MAX_REASON = 200


def one_line(text: str, limit: int = MAX_REASON) -> str:
    """A single line with no control characters, at most ``limit`` UTF-8 bytes."""
    return truncate_utf8(" ".join(text.translate(_TO_SPACE).split()), limit)


def truncate_utf8(text: str, limit: int) -> str:
    """Cut ``text`` to ``limit`` bytes of UTF-8 without splitting a character."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= limit:
        return text.encode("utf-8", "replace").decode("utf-8")
    return raw[:limit].decode("utf-8", "ignore")


def client_reason(text: str) -> str:
    """A reason for the client's ``AUTH_FAILED,<reason>``: one line, no special prefix."""
    line = one_line(text)
    if line.upper().startswith(_CLIENT_PREFIXES):
        line = one_line("Denied: " + line)
    return line or "Access denied"


def mgmt_param(text: str, limit: int = MAX_MGMT_PARAM) -> str:
    """One quoted parameter of a management command.

    The management parser (options.c ``parse_line``) splits on white space, reads
    ``"..."`` with ``\\"`` and ``\\\\`` escapes, and treats a leading ``#``/``;`` as
    a comment; a newline ends the command. So: one line, quoted, escaped, and
    short enough that the quoting never pushes it past the parser's buffer.
    """
    line = one_line(text, limit)
    escaped = line.replace("\\", "\\\\").replace('"', '\\"')
    while len(escaped.encode("utf-8")) > limit:
        line = truncate_utf8(line, len(line.encode("utf-8")) - 1)
        escaped = line.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def log_text(text: str, limit: int = 300) -> str:
    """Text for a log line: control characters shown as escapes, bounded length."""
    out = text.translate(_TO_ESCAPE)
    return out if len(out) <= limit else out[:limit] + "..."
