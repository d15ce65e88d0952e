"""The tokens file as it is now (``TokensFile``), and what a changed file that does not
read cleanly still changes (``carry_over``).

Why a wrong save is applied in part rather than ignored: an operator who revokes a
leaked token (deletes its line) and in the same save makes a typo elsewhere must not
keep the leaked token working until a clean save. So every change that takes
something away applies at once, and only what a wrong file would grant waits:

* a token in use before stays only if a well-formed line of the new file still holds
  it under the same name, with the stricter of the two readings: the scopes both
  lines give (a narrowed scope applies, a widened one waits) and the earlier expiry
  (an expiry moved earlier applies, one moved later waits);
* a token whose line is the wrong one is refused: that line no longer says what the
  token may do, and a token nobody can vouch for is not let in (fail closed); so is a
  token named on two lines (``read_tokens``);
* a token only in the new file waits for a clean save, as does a renamed one;
* a file that is missing, cannot be opened or is empty keeps the tokens in use for
  ``ABSENT_GRACE_SECONDS``, then leaves none: every request but ``/api/v1/health`` is
  refused until it reads again. Editors pass through both states on ordinary saves
  (vim writes in place, so the file is empty for an instant; emacs renames the old
  file away first), and without the grace a request landing then was refused though
  its token is in the file before and after (docs/benchmarks.md, "Saving the tokens
  file"). A file over 1 MiB, or one whose lines hold no token, leaves none at once.

A clean save is taken whole, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aiops.api.access import AccessTokens, Token, TokensRead, load_tokens, read_tokens

log = logging.getLogger(__name__)

# How long the tokens in use outlast a missing or empty file: an editor's save leaves
# one for microseconds (measured: docs/benchmarks.md, "Saving the tokens file").
ABSENT_GRACE_SECONDS = 2.0
_NAMES_SHOWN = 10  # a log line names this many tokens of a kind, then counts the rest


@dataclass(slots=True)
class Carried:
    """The tokens a wrong file leaves in use, and what it changed and what waits."""

    tokens: dict[str, Token] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)  # names no longer let in
    restricted: list[str] = field(default_factory=list)  # scopes narrowed, expiry earlier
    waiting: list[str] = field(default_factory=list)  # added, widened, extended, renamed


def carry_over(before: Mapping[str, Token], now: Mapping[str, Token]) -> Carried:
    """The tokens to use when a changed file has wrong lines: those of ``before`` (the
    tokens in use, by SHA-256) that ``now`` (the new file's well-formed lines) still
    holds under the same name, each the stricter of its two readings."""
    carried = Carried()
    for digest, old in before.items():
        new = now.get(digest)
        scopes = old.scopes & new.scopes if new is not None else frozenset()
        if new is None or new.name != old.name or not scopes:
            carried.removed.append(old.name)
            if new is not None:
                carried.waiting.append(new.name)
            continue
        kept = Token(old.name, scopes, _earlier(old.expires, new.expires))
        carried.tokens[digest] = kept
        if kept != old:
            carried.restricted.append(old.name)
        if kept != new:
            carried.waiting.append(new.name)
    carried.waiting.extend(token.name for digest, token in now.items() if digest not in before)
    return carried


def _earlier(one: float | None, other: float | None) -> float | None:
    """The stricter of two expiries (None: never)."""
    if one is None or other is None:
        return other if one is None else one
    return min(one, other)


class TokensFile:
    """The tokens of a file as it is now: read again at the first request after its
    modification time, size or inode changed (one ``stat`` per request), so adding,
    renewing or revoking a token needs no restart. A changed file read cleanly is
    taken whole; one with wrong lines changes only what ``carry_over`` applies, logged
    as an error once per change naming the first wrong line, what was applied and
    what waits for a clean save. A file missing, that cannot be opened, or empty is
    what an editor's save passes through: the tokens in use stay ``absent_grace``
    seconds, then none does. At start there is nothing read before, so a wrong file
    stops the server (``load_tokens`` raises).
    A save of the same size within the file system's timestamp tick (milliseconds) of
    the change read last is seen at the next change: ``touch`` the file to be sure."""

    def __init__(self, path: str | Path, absent_grace: float = ABSENT_GRACE_SECONDS):
        self._path = Path(path)
        self._grace = absent_grace
        self._lock = threading.Lock()
        self._absent_since: float | None = None  # monotonic; the file missing or empty
        self._seen = self._stamp()  # before reading: a change during the read is seen
        self._tokens = load_tokens(self._path)
        self._tokens.warn_of_expiry(time.time())

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            status = self._path.stat()
        except OSError:
            return None
        return status.st_mtime_ns, status.st_size, status.st_ino

    def current(self) -> AccessTokens:
        """The tokens to check a request against, read again if the file changed."""
        stamp = self._stamp()
        if stamp == self._seen:
            if self._absent_since is not None:
                self._give_up_after_grace()
            return self._tokens
        with self._lock:  # one reader per change, however many requests wait
            if stamp != self._seen:
                self._seen = stamp
                self._tokens = self._read_again()
        return self._tokens

    def _read_again(self) -> AccessTokens:
        read = read_tokens(self._path)
        if read.absent:
            if self._absent_since is None:
                self._absent_since = time.monotonic()
                count = len(self._tokens)
                log.warning("%s; the %d token%s in use stay%s %g s in case it is being "
                            "saved, then none does", read.errors[0], count, _s(count),
                            "s" if count == 1 else "", self._grace)
            return self._tokens
        self._absent_since = None
        if read.errors:
            carried = carry_over(self._tokens.by_hash(), read.tokens)
            log.error("%s", _partly_applied(read, carried))
            tokens = AccessTokens(carried.tokens)
        else:
            tokens = AccessTokens(read.tokens)
            log.info("AIOPS_API_TOKENS_FILE %s changed: %d tokens now", self._path,
                     len(tokens))
        tokens.warn_of_expiry(time.time())
        return tokens

    def _give_up_after_grace(self) -> None:
        """No token once the file stayed missing or empty past the grace: deleting or
        emptying it is how an operator shuts every client out, and a file that does
        not come back is no save in progress."""
        with self._lock:
            since = self._absent_since
            if since is None or time.monotonic() - since < self._grace:
                return
            self._absent_since = None
            self._tokens = AccessTokens({})
        log.error("AIOPS_API_TOKENS_FILE %s: still missing or empty after %g s; no token "
                  "in use: every request but /api/v1/health is refused until the file "
                  "reads again", self._path, self._grace)


def _partly_applied(read: TokensRead, carried: Carried) -> str:
    """``F, line 7: ... (and 1 more wrong line); applied 1 removal ('leaked'); 1 new or
    widened token ('ci') waits for a clean save; 2 tokens in use``."""
    more = len(read.errors) - 1
    parts = [read.errors[0] + (f" (and {more} more wrong line{_s(more)})" if more else "")]
    applied = [f"{len(names)} {kind}{_s(len(names))} ({_names(names)})"
               for kind, names in (("removal", carried.removed),
                                   ("restriction", carried.restricted)) if names]
    parts.append("applied " + " and ".join(applied) if applied else "nothing to apply")
    if carried.waiting:
        count = len(carried.waiting)
        parts.append(f"{count} new or widened token{_s(count)} ({_names(carried.waiting)}) "
                     f"wait{'' if count != 1 else 's'} for a clean save")
    count = len(carried.tokens)
    parts.append(f"{count} token{_s(count)} in use" if count else
                 "no token in use: every request but /api/v1/health is refused until the "
                 "file reads again")
    return "; ".join(parts)


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    rest = len(names) - _NAMES_SHOWN
    return f"{shown} and {rest} more" if rest > 0 else shown


def _s(count: int) -> str:
    return "" if count == 1 else "s"
