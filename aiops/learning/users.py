"""User names in authentication messages → ``<user>``.

Login failures arrive as syslog lines that name the account tried (``Failed password
for invalid user oracle from ...``) and rarely carry a label that says so, so the
identity-label masks of ``templates`` cannot reach them: every user name tried made a
new template, a new pass of the text model, and one more text the same kind of alert
had to be matched against. The user is evidence of its own (who, not what happened).

Each mask anchors on the wording of one message family, written after the formats'
public documentation, in our own words:

* OpenSSH ``sshd`` (auth.log): ``Failed <method> for [invalid user] NAME from ADDR
  port N``, ``Accepted <method> for NAME from ADDR port N``, ``Invalid user NAME from
  ADDR``;
* Linux-PAM ``pam_unix``: ``authentication failure; logname=.. ruser=.. user=NAME``
  and ``session opened|closed for user NAME[(uid=N)] [by NAME(uid=N)]``;
* sudo: ``NAME : [reason ; ]TTY=.. ; PWD=.. ; USER=NAME2 ; COMMAND=..``;
* su: util-linux ``[FAILED SU ](to NAME) NAME2 on TTY`` and shadow's
  ``Successful|FAILED su for NAME by NAME2``;
* Cisco IOS login enhancements: ``%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user:
  NAME] [Source: ..]`` and ``%SEC_LOGIN-5-LOGIN_SUCCESS: Login Success [user: NAME]``;
* Cisco ASA syslog: 113004/113005/113015 ``AAA user authentication Rejected : reason
  = .. : server = .. : user = NAME : user IP = ..`` (a name may hold spaces: read to
  the next ``:``), 605004/605005 ``Login denied|permitted from .. for user "NAME"``
  (newer guides quote it with ``'``);
* Junos: ``SSHD_LOGIN_FAILED: Login failed for user 'NAME' from host '..'``,
  ``LOGIN_FAILED: Login failed for user NAME from host ..``, ``UI_LOGIN_EVENT: User
  'NAME' login, class '..'``;
* SQL Server error 18456: ``Login failed for user 'NAME'. Reason: ..``;
* Windows Security event 4625: ``Account Name: NAME`` (``-`` when there is none).

Sources, checked against the stored copies of: Cisco's "Cisco IOS Login Enhancements
(Login Block)" guide and "Cisco Secure Firewall ASA Series Syslog Messages" (113005,
605004, 605005); Juniper's "Junos OS System Log Messages Reference" (LOGIN_FAILED,
SSHD_LOGIN_FAILED, UI_LOGIN_EVENT); Microsoft Learn's "MSSQLSERVER_18456" and
"4625(F): An account failed to log on"; the sudoers manual's log format; OpenSSH's,
Linux-PAM's and util-linux's own log lines as operators' guides quote them.

A pattern needs its family's own keywords around the name (``for`` .. ``from ADDR
port``, ``[user: ``, ``user = `` after a ``:``, a quoted name after ``user``), so
ordinary wording is left as it is: "user plane down", "invalid user count 3".
"""

from __future__ import annotations

import re

USER = "<user>"

# One mask: the literal strings a matching text must contain (any one of them), the
# pattern, and the groups of the pattern that are user names. Texts arrive lower-cased
# (``template`` lowers first), so the keywords are lower-case and no pattern needs
# IGNORECASE.
_Mask = tuple[tuple[str, ...], re.Pattern[str], tuple[int, ...]]

# An address as sshd logs it (IPv4 or IPv6): hex digits, dots and colons, one digit
# at least, so a word such as "db" or "cafe" is no address.
_ADDRESS = r"(?=[0-9a-f:.]*\d)[0-9a-f:.]*[0-9a-f](?![\w.:-])"

_MASKS: tuple[_Mask, ...] = (
    # sshd: the method, then the account, then where from and which port.
    ((" port ",), re.compile(
        r"\b(?:failed|accepted) [a-z0-9/@.-]+ for (?:invalid user |illegal user )?"
        r"(\S+) from \S+ port \d"), (1,)),
    # sshd: an account that does not exist (``Illegal`` in old releases).
    (("invalid user ", "illegal user "), re.compile(
        rf"\b(?:invalid|illegal) user (\S+) from {_ADDRESS}"), (1,)),
    # pam_unix: the key=value tail of an authentication failure.
    (("authentication failure;",), re.compile(
        r"\b(?:logname|ruser|user)=([^\s=;]+)"), (1,)),
    # pam_unix: a session opened or closed, and who opened it (``by NAME(uid=N)``).
    (("session opened for user ", "session closed for user "), re.compile(
        r"\bsession (?:opened|closed) for user ([^\s(]+)(?:\(uid=\d+\))?"
        r"(?: by ([^\s(]+)\(uid=\d+\))?"), (1, 2)),
    # sudo: the invoking user before `` : ``, their home in ``PWD=`` and the target
    # after ``USER=``.
    (("tty=",), re.compile(
        r"(?<!\S)([^\s:;]+) : (?:[^;]*; )?tty=\S+ ; "
        r"(?:pwd=(?:/home/([^\s/;]+))?\S* ; )?user=([^\s;]+)"), (1, 2, 3)),
    # util-linux su: ``(to TARGET) USER on TTY``, after ``FAILED SU `` when refused.
    (("(to ",), re.compile(r"(?<!\S)\(to ([^\s)]+)\) (\S+) on \S"), (1, 2)),
    # shadow su.
    (("su for ",), re.compile(r"\b(?:successful|failed) su for (\S+) by (\S+)"), (1, 2)),
    # Cisco IOS SEC_LOGIN: ``[user: NAME]``.
    (("[user: ",), re.compile(r"\blogin (?:failed|success) \[user: ([^\]]+)\]"), (1,)),
    # Cisco ASA AAA: ``: user = NAME :`` (``user IP =`` is the address, not the name).
    ((": user = ",), re.compile(
        r"\buser authentication \w+ :.*?: user = ([^:]*?[^\s:])(?= *:| *$)"), (1,)),
    # A quoted account after ``user``: ASA 605004/605005, Junos SSHD_LOGIN_FAILED and
    # UI_LOGIN_EVENT, SQL Server 18456.
    (("user '", 'user "'), re.compile(r"\buser (['\"])([^'\"\s][^'\"]*)\1"), (2,)),
    # Junos LOGIN_FAILED without quotes: ``Login failed for user NAME from host ..``.
    (("login failed for user ",), re.compile(
        r"\blogin failed for user ([^\s'\"]+) from host "), (1,)),
    # Windows 4625: ``Account Name: NAME`` (``-`` for none; an empty field is followed
    # directly by the next one).
    (("account name:",), re.compile(
        r"\baccount name:\s*(?!-(?:\s|$)|account domain:)(\S+)"), (1,)),
)

_KEYWORDS = tuple(sorted({word for words, _, _ in _MASKS for word in words}))
# The first test a text meets: most keywords hold "user", so one search for it stands
# in for theirs; a text that holds none of these holds no keyword (each keyword holds
# one of them, by construction) and is returned untouched.
_GATES = tuple(sorted({"user" if "user" in word else word for word in _KEYWORDS}))


def _replace_groups(match: re.Match[str], groups: tuple[int, ...]) -> str:
    """The whole match with the named groups that took part replaced by ``<user>``."""
    text, start = match.group(0), match.start(0)
    out, at = [], 0
    for group in groups:
        if match.start(group) < 0:  # an optional part (``by NAME``) that was absent
            continue
        lo, hi = match.start(group) - start, match.end(group) - start
        out += (text[at:lo], USER)
        at = hi
    out.append(text[at:])
    return "".join(out)


def mask_users(text: str) -> str:
    """``text`` (lower-case) with the account names of the authentication messages
    above replaced by ``<user>``; any other text is returned as it is.

    Runs on the template hot path: a text holding none of the families' keywords (most
    alerts) costs a few substring tests, and each pattern runs only when its own
    keywords are there.
    """
    if not any(gate in text for gate in _GATES):
        return text
    for words, pattern, groups in _MASKS:
        if any(word in text for word in words):
            text = pattern.sub(lambda m, g=groups: _replace_groups(m, g), text)
    return text
