"""``aiops sessions``: list the single sign-on sessions alive and end a user's
(aiops/api/session_store.py; docs/contracts.md, "Single sign-on").

Why: a cookie that leaked, or a user who left, must stop working before the session's
lifetime ends, even when that user cannot (or will not) sign out themselves.
"""

from __future__ import annotations

import time

import click

from aiops.cli_base import main, runtime_of


@main.group()
def sessions() -> None:
    """Single sign-on sessions of the incident view (AIOPS_OIDC_*)."""


@sessions.command("list")
@click.option("--user", default=None, help="Only this user's sessions.")
@click.pass_context
def sessions_list(ctx: click.Context, user: str | None) -> None:
    """The sessions alive, oldest first: user, signed in at, expires at, and the first
    characters of the session's row id (tab-separated; never a cookie)."""
    from aiops.api.session_store import SessionStore
    from aiops.timeutil import to_rfc3339

    found = SessionStore(runtime_of(ctx).db).alive_sessions(user)
    for s in found:
        click.echo(f"{s.user}\t{to_rfc3339(s.created_at)}\t{to_rfc3339(s.expires_at)}"
                   f"\t{s.id[:12]}")
    click.echo(f"{len(found)} sessions alive", err=True)


@sessions.command("end")
@click.option("--user", required=True, help="The user whose sessions end, as the view's "
                                            "header and `aiops sessions list` name them.")
@click.pass_context
def sessions_end(ctx: click.Context, user: str) -> None:
    """End every session of a user at once: each request with one of their cookies is
    then refused, in every process of the engine. Their next sign-in at the provider
    makes a new session (to keep them out, remove them from the groups there)."""
    from aiops.api.session_store import SessionStore

    ended = SessionStore(runtime_of(ctx).db).end_user(user, time.time())
    if ended:
        click.echo(f"ended {ended} sessions of {user!r}")
    else:
        click.echo(f"no session of {user!r} was alive (users are named as `aiops "
                   "sessions list` shows them)")
