"""A condition re-sent on a steady beat: one sender repeating it, not restarting.

Some senders report a condition that lasts again and again, each time stamped with
the time of sending: a device repeating its environmental syslog message or trap
every few minutes, a cron job that posts a firing alert to a webhook on every run
with ``starts_at`` = now. Read by the restart rule (``Deduplicator._is_new_onset``)
each such start, once it is ``max_incident_span`` past the alert's onset, would be
a restart of the condition: a new alert and incident every few minutes.

Restarts set off by other faults come when those faults come, at irregular times;
a repeating sender keeps its period. So the last few start times tell them apart
without knowing the sender: when the new start's gap to the last one agrees with
the gap before it, the condition is on a beat and the start is a re-send.
"""

from __future__ import annotations

from collections.abc import Iterable

# Start times kept per condition: the last two and the new one give the two gaps
# compared. More would recognise nothing sooner, and a restored alert reads them back.
KEPT_STARTS = 2
# Two gaps agree when they differ by at most this share of the longer one plus
# ``BEAT_SLACK``: a sender's timer drifts and its run time varies by a few per cent,
# and a timestamp is rounded to the second and may be taken after a few seconds'
# work, which at a one-minute beat is more than 10 %. After a 300 s gap the next may
# be 265 to 338 s, after a 60 s gap 49 to 72 s.
BEAT_JITTER = 0.10
BEAT_SLACK = 5.0


def kept_starts(times: Iterable[float]) -> tuple[float, ...]:
    """The latest ``KEPT_STARTS`` of ``times`` (oldest first), as an alert keeps them.
    A tuple, not a bounded deque: every new alert gets one, and a deque with a
    ``maxlen`` costs several times as much to make."""
    return tuple(times)[-KEPT_STARTS:]


def with_start(starts: tuple[float, ...], at: float) -> tuple[float, ...]:
    """``starts`` with ``at`` kept if it is a start later than any kept: a re-send with
    the same start (Alertmanager keeps ``startsAt``) or an event delivered out of order
    adds nothing."""
    if starts and at <= starts[-1]:
        return starts
    return (*starts, at)[-KEPT_STARTS:]


def gaps_agree(earlier: float, later: float) -> bool:
    """Whether two gaps between starts are one period, within a sender's jitter."""
    return abs(later - earlier) <= BEAT_JITTER * max(earlier, later) + BEAT_SLACK


def on_beat(starts: tuple[float, ...], at: float, max_gap: float) -> bool:
    """Whether a start at ``at`` keeps the beat of the ``starts`` before it: the gap to
    the last start agrees with the gap before that, and neither is longer than
    ``max_gap`` (0: never): the longer the gaps allowed, the likelier that faults
    which set a lasting condition off again come, by chance, at two equal intervals
    (none did on the benchmark's development scenarios, even unbounded; an hour
    covers the senders that repeat every few minutes with room to spare)."""
    if max_gap <= 0 or len(starts) < 2:
        return False
    before, last = starts[-2], starts[-1]
    gap, previous = at - last, last - before
    return 0 < gap <= max_gap and 0 < previous <= max_gap and gaps_agree(previous, gap)
