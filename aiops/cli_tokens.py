"""``aiops tokens``: make access tokens for the API and the view, and check a tokens
file before a server reads it (aiops/api/access.py; docs/contracts.md, "Access tokens")."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from aiops.cli_base import main


@main.group()
def tokens() -> None:
    """Access tokens of the API and the incident view (AIOPS_API_TOKENS_FILE)."""


@tokens.command("new")
@click.argument("name")
@click.option("--scopes", default="read", show_default=True,
              help="Comma-separated: read (every GET), ingest (alerts and webhooks), "
                   "operate (merge, split, playbook runs).")
@click.option("--append", "append_to", type=click.Path(dir_okay=False, path_type=Path),
              help="Add the token's line to this tokens file (created if missing).")
def tokens_new(name: str, scopes: str, append_to: Path | None) -> None:
    """Make a token: the token on stdout (shown once: only its hash is kept), its line
    for the tokens file on stderr or appended to --append."""
    from aiops.api.access import check_name, load_tokens, parse_scopes, token_line

    try:
        check_name(name, "NAME")
        chosen = sorted(parse_scopes(scopes, "--scopes"))
        if append_to is not None and append_to.exists() and append_to.stat().st_size:
            existing = append_to.read_text(encoding="utf-8")
            if any(line.split("#", 1)[0].split()[:1] == [name]
                   for line in existing.splitlines()):
                raise ValueError(f"{append_to}: a token named {name!r} is there already")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    token = secrets.token_urlsafe(32)
    line = token_line(name, chosen, token)
    if append_to is None:
        click.echo(f"tokens file line: {line}", err=True)
    else:
        before = append_to.read_text(encoding="utf-8") if append_to.exists() else ""
        separator = "" if not before or before.endswith("\n") else "\n"
        with append_to.open("a", encoding="utf-8") as out:
            out.write(f"{separator}{line}\n")
        load_tokens(append_to)  # the file as a server will read it
        click.echo(f"added {name!r} ({', '.join(chosen)}) to {append_to}", err=True)
    click.echo(token)


@tokens.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def tokens_check(path: Path) -> None:
    """Read a tokens file as `aiops serve` will; exit 2 naming the line that is wrong."""
    from aiops.api.access import load_tokens

    try:
        found = load_tokens(path)
    except ValueError as exc:
        click.echo(f"aiops: error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"{path}: {len(found)} tokens")
