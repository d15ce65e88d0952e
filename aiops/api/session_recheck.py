"""Signed-in sessions asked about again at the OpenID provider, with its refresh token.

Why: groups are read at sign-in, so a user removed at the provider, or from a group
there, kept their session and its scopes until it ended (8 h by default). Now a
session whose sign-in brought a refresh token is re-checked by the first request that
comes ``AIOPS_OIDC_RECHECK`` seconds (300 by default) after the last check: a
refresh-token grant at the provider's token endpoint. Its outcomes:

* the grant succeeds: the new id_token is verified as at sign-in (but for the nonce,
  which a refreshed token need not carry, OpenID Connect Core 12.2; when it does, it
  must be the sign-in's, and ``sub`` must be the same user), the groups are read
  again (id_token, else userinfo) and the session's scopes become what they give; a
  rotated refresh token replaces the old one;
* the provider answers ``invalid_grant`` (the user deleted or disabled, the grant
  revoked, the refresh token expired or spent), or HTTP 400 naming no error (how
  Glewlwyd refuses a refresh token, its user deleted included: ``grant_refused`` in
  aiops/api/oidc_provider.py): the session is ended, as by signing out; a refreshed
  id_token that does not verify ends it too;
* the provider cannot be asked (down, unreachable, 5xx, another OAuth error such as a
  client secret it no longer takes): the session keeps its scopes, **fail open**,
  so an outage of the provider does not sign every operator out in the middle of an
  incident; a warning is logged (at most every WARN_EVERY seconds) and this process
  asks again RETRY_AFTER seconds later, not at every request.

A refresh token spent twice is taken for a stolen one by providers that rotate them
(the whole grant is revoked), so one session is re-checked by one caller at a time: a
lock of the session's stripe in the process, and across processes a conditional
update of the row's ``checked_at`` (aiops/api/session_store.py, ``claim_check``);
whoever loses reads the row and goes on with the scopes it holds.

A sign-in without a refresh token (the provider gives none to this client) is not
re-checked: its groups count until it ends, as before.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiops.api.oidc_provider import Provider, ProviderError, SignInRefused, TokenRefused
from aiops.api.oidc_session import Session, scopes_for, user_groups
from aiops.api.session_seal import Unsealable, seal, unseal
from aiops.api.session_store import LiveSession, SessionStore, row_id
from aiops.config import OidcSettings

log = logging.getLogger(__name__)

RETRY_AFTER = 60.0  # seconds before a process asks a provider that could not be asked
WARN_EVERY = 600.0  # seconds between warnings that re-checks fail
STRIPES = 64  # locks a process re-checks under, chosen by the session's row id


class Rechecker:
    """Re-checks the sessions of one provider, in one process."""

    def __init__(self, provider: Provider, store: SessionStore, settings: OidcSettings,
                 retry_after: float = RETRY_AFTER,
                 clock: Callable[[], float] = time.time):
        self._provider = provider
        self._store = store
        self._settings = settings
        self._retry_after = retry_after
        self._clock = clock
        self._stripes = [threading.Lock() for _ in range(STRIPES)]
        self._state = threading.Lock()
        self._retry_at = 0.0  # while the provider could not be asked: when to again
        self._warned_at = -math.inf

    @property
    def on(self) -> bool:
        return self._settings.recheck > 0

    def seal_grant(self, sid: str, refresh_token: str, subject: str, nonce: str) -> bytes:
        """What a session keeps of its sign-in to be re-checked: the refresh token,
        the user and the nonce, sealed under the session's id."""
        return seal(sid, row_id(sid), json.dumps(
            {"refresh_token": refresh_token, "sub": subject, "nonce": nonce}))

    def current(self, session: Session, row: LiveSession) -> Session | None:
        """The session with its scopes as the provider now gives them (re-checked
        when due), or None when the provider says the user or grant is gone (the
        session is ended)."""
        if not self._due(row):
            return _with_scopes(session, row)
        sid = session.sid
        with self._stripes[int(row_id(sid)[:8], 16) % STRIPES]:
            again = self._store.live(sid)  # another thread of the process may have
            if again is None or not self._due(again):  # re-checked it meanwhile
                return None if again is None else _with_scopes(session, again)
            assert again.checked_at is not None and again.sealed is not None
            now = self._clock()
            if not self._store.claim_check(sid, again.checked_at, now):
                latest = self._store.live(sid)  # another process re-checks it
                return None if latest is None else _with_scopes(session, latest)
            return self._recheck(session, again, now)

    def _due(self, row: LiveSession) -> bool:
        if not self.on or row.sealed is None or row.checked_at is None:
            return False
        now = self._clock()
        return now - row.checked_at >= self._settings.recheck and now >= self._retry_at

    def _recheck(self, session: Session, row: LiveSession, claimed: float) -> Session | None:
        """The refresh grant of a re-check this caller claimed at ``claimed``."""
        sid = session.sid
        assert row.sealed is not None and row.checked_at is not None
        try:
            grant = json.loads(unseal(sid, row_id(sid), row.sealed))
        except (Unsealable, ValueError) as exc:
            return self._end(session, f"its stored refresh token does not open ({exc})")
        try:
            tokens = self._provider.refresh(grant["refresh_token"])
            scopes = self._scopes_of(tokens, grant)
        except TokenRefused as exc:
            if exc.grant_refused:
                return self._end(session, str(exc))
            return self._trouble(session, row, claimed, exc)
        except SignInRefused as exc:
            return self._end(session, str(exc))
        except ProviderError as exc:
            return self._trouble(session, row, claimed, exc)
        rotated = tokens.get("refresh_token")
        sealed = None
        if isinstance(rotated, str) and rotated and rotated != grant["refresh_token"]:
            sealed = self.seal_grant(sid, rotated, grant["sub"], grant["nonce"])
        if scopes is None:  # the provider said nothing of the groups: kept
            scopes = row.scopes if row.scopes is not None else session.scopes
        self._store.record_check(sid, claimed, scopes, sealed)
        self._recovered()
        before = row.scopes if row.scopes is not None else session.scopes
        if scopes != before:
            log.info("single sign-on: %r may now %s (was %s), re-checked at the provider",
                     session.user, ", ".join(sorted(scopes)) or "nothing",
                     ", ".join(sorted(before)) or "nothing")
        return replace(session, scopes=scopes)

    def _scopes_of(self, tokens: dict[str, Any], grant: dict[str, str]) -> frozenset[str] | None:
        """The scopes a refresh grant's answer gives, or None when it says nothing of
        the user (no id_token, no userinfo endpoint); SignInRefused when it is about
        another user or another sign-in."""
        wanted = self._settings.groups_claim
        if isinstance(tokens.get("id_token"), str):
            claims = self._provider.claims_of(tokens, None, wanted)
            if claims["sub"] != grant["sub"]:
                raise SignInRefused("the refreshed id_token is about another user")
            if "nonce" in claims and not hmac.compare_digest(str(claims["nonce"]),
                                                             grant["nonce"]):
                raise SignInRefused("the refreshed id_token carries another sign-in's "
                                    "nonce")
        else:
            claims = self._provider.userinfo(str(tokens.get("access_token") or ""),
                                             grant["sub"])
            if not claims:
                return None
        return scopes_for(user_groups(claims, wanted), self._settings)

    def _end(self, session: Session, why: str) -> None:
        self._store.end(session.sid)
        log.info("single sign-on: the session of %r is ended: %s", session.user, why)
        return None

    def _trouble(self, session: Session, row: LiveSession, claimed: float,
                 exc: Exception) -> Session:
        """Fail open: the session goes on with its scopes; the row says it was not
        checked, and this process asks again after RETRY_AFTER."""
        assert row.checked_at is not None
        self._store.release_check(session.sid, claimed, row.checked_at)
        now = self._clock()
        with self._state:
            self._retry_at = now + self._retry_after
            warn = now - self._warned_at >= WARN_EVERY
            if warn:
                self._warned_at = now
        if warn:
            log.warning("single sign-on: signed-in sessions cannot be re-checked, and keep "
                        "their scopes until the provider answers (asked again in %g s; "
                        "this warning at most every %g s): %s", self._retry_after,
                        WARN_EVERY, exc)
        return _with_scopes(session, row)

    def _recovered(self) -> None:
        with self._state:
            warned, self._warned_at = self._warned_at, -math.inf
        if warned > -math.inf:
            log.info("single sign-on: sessions are re-checked at the provider again")


def _with_scopes(session: Session, row: LiveSession) -> Session:
    """The session with its row's scopes (a cookie's are those of its sign-in)."""
    return session if row.scopes is None else replace(session, scopes=row.scopes)
