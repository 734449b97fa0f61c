from hypothesis import given
from hypothesis import strategies as st

from shared import escape
from shared.management import codec


def parse_mgmt_params(line: str) -> list[str]:
    """Re-implementation of OpenVPN's parse_line (options.c) for double quotes,
    backslash escapes and white space, to check our quoting round-trips."""
    params: list[str] = []
    cur: list[str] = []
    state = "initial"
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line):
            i += 1
            cur.append(line[i])
            if state == "initial":
                state = "unquoted"
        elif state == "initial":
            if ch == '"':
                state = "quoted"
            elif not ch.isspace():
                cur.append(ch)
                state = "unquoted"
        elif state == "unquoted":
            if ch.isspace():
                params.append("".join(cur))
                cur, state = [], "initial"
            else:
                cur.append(ch)
        elif state == "quoted":
            if ch == '"':
                params.append("".join(cur))
                cur, state = [], "initial"
            else:
                cur.append(ch)
        i += 1
    if state != "initial":
        params.append("".join(cur))
    return params


@given(st.text())
def test_mgmt_param_is_one_quoted_parameter_that_round_trips(text: str) -> None:
    quoted = escape.mgmt_param(text)
    assert "\n" not in quoted and "\r" not in quoted
    assert len(quoted.encode()) <= escape.MAX_MGMT_PARAM + 2
    params = parse_mgmt_params(quoted)
    assert len(params) == 1
    # the meaning is kept: what OpenVPN reads is our single-line text (maybe shortened)
    assert escape.one_line(text, 10**6).startswith(params[0])


@given(st.text(), st.text())
def test_client_deny_is_one_command_with_exactly_four_parameters(reason: str, user: str) -> None:
    cmd = codec.client_deny(7, 1, reason, user)
    assert cmd.endswith("\n") and cmd.count("\n") == 1
    params = parse_mgmt_params(cmd.rstrip("\n"))
    assert params[:3] == ["client-deny", "7", "1"]
    assert len(params) == 5
    assert not params[4].upper().startswith(("TEMP", "CRV1:", "SESSION:"))


@given(st.text())
def test_client_kill_reason_cannot_change_client_behaviour(reason: str) -> None:
    cmd = codec.client_kill(3, reason)
    assert cmd.count("\n") == 1
    params = parse_mgmt_params(cmd.rstrip("\n"))
    assert params[:2] == ["client-kill", "3"] and len(params) == 3
    assert params[2].startswith("AUTH_FAILED,")
    shown = params[2][len("AUTH_FAILED,"):]
    assert shown and not shown.upper().startswith(("TEMP", "CRV1:", "SESSION:"))


def test_injection_attempts_are_neutralised() -> None:
    evil = 'x"\nclient-auth 1 1\nEND\n\\"'
    cmd = codec.client_kill(5, evil)
    assert cmd.count("\n") == 1
    assert parse_mgmt_params(cmd.rstrip("\n"))[2] == 'AUTH_FAILED,x" client-auth 1 1 END \\"'
    assert escape.client_reason("TEMP retry please").startswith("Denied: ")
    assert escape.client_reason("crv1:E:abc").startswith("Denied: ")
    assert escape.client_reason("") == "Access denied"


@given(st.text())
def test_one_line_has_no_control_characters(text: str) -> None:
    out = escape.one_line(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in out)
    assert len(out.encode()) <= escape.MAX_REASON


@given(st.text())
def test_log_text_has_no_control_characters(text: str) -> None:
    out = escape.log_text(text, limit=10**6)
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in out)
