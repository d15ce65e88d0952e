"""``aiops tokens``: make access tokens for the API and the view, and check a tokens
file before a server reads it (aiops/api/access.py; docs/contracts.md, "Access tokens")."""

from __future__ import annotations

import re
import secrets
import sys
import time
from pathlib import Path

import click

from aiops.cli_base import main

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DURATION = re.compile(r"^[0-9.]+[smhd]?$")


def expiry_field(text: str, now: float) -> tuple[str, float]:
    """``--expires``'s text as the tokens file's field (what follows ``expires=``) and
    its instant: a duration from ``now`` (``90d``, ``24h``, seconds) to the whole
    second, a date as given, an RFC 3339 time in UTC. ValueError for anything else or
    an instant already past: a token that cannot be used is surely a mistake."""
    from aiops.api.access import parse_expiry
    from aiops.timeutil import parse_duration, to_rfc3339

    given = text.strip()
    try:
        if _DURATION.match(given):
            instant = float(int(now + parse_duration(given, "--expires")))
            field = str(to_rfc3339(instant))
        else:
            instant = parse_expiry(f"expires={given}", "--expires")
            field = given if _DATE.match(given) else str(to_rfc3339(instant))
    except ValueError:
        raise ValueError(f"--expires must be a duration such as 90d, 24h or seconds, a date "
                         f"YYYY-MM-DD or an RFC 3339 time; got {text!r}") from None
    if instant <= now:
        raise ValueError(f"--expires: {to_rfc3339(instant)} is already past")
    return field, instant


@main.group()
def tokens() -> None:
    """Access tokens of the API and the incident view (AIOPS_API_TOKENS_FILE)."""


@tokens.command("new")
@click.argument("name")
@click.option("--scopes", default="read", show_default=True,
              help="Comma-separated: read (every GET), ingest (alerts and webhooks), "
                   "operate (merge, split, playbook runs).")
@click.option("--expires", "expires", metavar="DATE|DURATION",
              help="When the token stops working: a duration from now (90d, 24h, "
                   "seconds), a date (YYYY-MM-DD: the start of that day, UTC) or an RFC "
                   "3339 time. Without it the token never expires.")
@click.option("--append", "append_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Add the token's line to this tokens file (created if missing).")
def tokens_new(name: str, scopes: str, expires: str | None, append_to: Path | None) -> None:
    """Make a token: the token on stdout (shown once: only its hash is kept), its line
    for the tokens file on stderr or appended to --append."""
    from aiops.api.access import check_name, load_tokens, parse_scopes, token_line
    from aiops.timeutil import to_rfc3339

    try:
        check_name(name, "NAME")
        chosen = sorted(parse_scopes(scopes, "--scopes"))
        field, instant = (expiry_field(expires, time.time()) if expires is not None
                          else (None, None))
        if append_to is not None and append_to.exists() and append_to.stat().st_size:
            existing = append_to.read_text(encoding="utf-8")
            if any(line.split("#", 1)[0].split()[:1] == [name]
                   for line in existing.splitlines()):
                raise ValueError(f"{append_to}: a token named {name!r} is there already")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    token = secrets.token_urlsafe(32)
    line = token_line(name, chosen, token, expires=field)
    if append_to is None:
        click.echo(f"tokens file line: {line}", err=True)
    else:
        before = append_to.read_text(encoding="utf-8") if append_to.exists() else ""
        separator = "" if not before or before.endswith("\n") else "\n"
        with append_to.open("a", encoding="utf-8") as out:
            out.write(f"{separator}{line}\n")
        load_tokens(append_to)  # the file as a server will read it
        click.echo(f"added {name!r} ({', '.join(chosen)}) to {append_to}", err=True)
    if instant is not None:
        click.echo(f"the token expires at {to_rfc3339(instant)}", err=True)
    click.echo(token)


@tokens.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--warn-within", default="14d", show_default=True, metavar="DURATION",
              help="Warn of tokens expiring within this long (7d, 36h, seconds).")
def tokens_check(path: Path, warn_within: str) -> None:
    """Read a tokens file as `aiops serve` will and list its tokens (name, scopes,
    expiry: tab-separated); exit 2 naming the line that is wrong. An expired token, or
    one expiring within --warn-within, is a warning on stderr, not an error (exit 0):
    the file is as the server will read it. In cron, `aiops tokens check FILE
    >/dev/null` mails only the warnings, so no exit status of its own is needed."""
    from aiops.api.access import load_tokens, time_left
    from aiops.timeutil import parse_duration, to_rfc3339

    try:
        window = parse_duration(warn_within, "--warn-within")
        found = load_tokens(path)
    except ValueError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    now = time.time()
    left = {token.name: token.expires - now for token in found if token.expires is not None}
    expired = [token for token in found if token.expired(now)]
    soon = [token for token in found if 0 < left.get(token.name, window + 1) <= window]
    for token in found:
        expiry = "never" if token.expires is None else to_rfc3339(token.expires)
        note = (" (expired)" if token in expired else
                f" (expires in {time_left(left[token.name])})" if token in soon else "")
        click.echo(f"{token.name}\t{','.join(sorted(token.scopes))}\t{expiry}{note}")
    click.echo(f"{path}: {len(found)} tokens, {len(expired)} expired")
    for token in expired:
        click.echo(f"aiops: warning: token {token.name!r} expired at "
                   f"{to_rfc3339(token.expires)}; requests with it are refused", err=True)
    for token in soon:
        click.echo(f"aiops: warning: token {token.name!r} expires at "
                   f"{to_rfc3339(token.expires)} (in {time_left(left[token.name])}); "
                   "give its holder a new one (aiops tokens new) before then", err=True)
