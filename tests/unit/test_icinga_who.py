"""Who acknowledged an Icinga 2 problem and which downtimes suppress it
(connectors/icinga_who.py), from the shapes Icinga 2.13.6 sent
(tests/integration/test_icinga_real.py): its AcknowledgementSet and Downtime* events,
its acknowledgement comments and downtimes as object queries answer them; and what a
payload missing a part gives."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aiops.engine.alert_status import acknowledged_by, downtime_said
from connectors.icinga_who import (
    WhoAndWhich,
    acknowledgement_of,
    downtime_of,
    in_effect_by_event,
)

ACK_SET = {"type": "AcknowledgementSet", "acknowledgement_type": 2, "author": "ann",
           "comment": "on it", "expiry": 0, "host": "router1", "notify": False,
           "persistent": False, "service": "bgp", "state": 2, "state_type": 1,
           "timestamp": 1795552006.354721}
ACK_CLEARED = {"type": "AcknowledgementCleared", "host": "router1", "service": "bgp",
               "state": 2, "state_type": 1, "timestamp": 1795552020.0}
# A fixed downtime as DowntimeStarted carries it (DowntimeTriggered: trigger_time set).
FIXED = {"__name": "router1!bgp!98edf516-3037-4054-a7fb-81a92a305beb", "author": "bob",
         "comment": "peer maint", "duration": 0, "end_time": 1795555607.89612,
         "entry_time": 1795552007.904006, "fixed": True, "host_name": "router1",
         "legacy_id": 1, "name": "98edf516-3037-4054-a7fb-81a92a305beb", "parent": "",
         "remove_time": 0, "scheduled_by": "", "service_name": "bgp",
         "start_time": 1795552002.89612, "trigger_time": 0, "triggered_by": "",
         "type": "Downtime"}
# A flexible one of an object already in a problem: triggered at once (by that problem).
FLEXIBLE = FIXED | {"__name": "router1!bgp!712892b8-437c-4858-ba2a-321201b6bc70",
                    "author": "cy", "comment": "flex", "duration": 600,
                    "entry_time": 1795552009.412529, "fixed": False, "legacy_id": 2,
                    "name": "712892b8-437c-4858-ba2a-321201b6bc70",
                    "trigger_time": 1795552004.757355}
FIXED_SAID = ("downtime 98edf516-3037-4054-a7fb-81a92a305beb by bob until "
              "2026-11-24T21:26:47Z: peer maint")
FLEXIBLE_SAID = ("downtime 712892b8-437c-4858-ba2a-321201b6bc70 by cy until "
                 "2026-11-24T20:36:44Z: flex")  # its trigger plus its 600 s


def event(kind: str, downtime: Any) -> dict[str, Any]:
    return {"type": kind, "downtime": downtime, "timestamp": 1795552010.0}


def test_the_wording_is_the_one_every_source_uses() -> None:
    assert acknowledged_by(" ann ", "on it") == "ann: on it"
    assert acknowledged_by("", "on it") == "on it"
    assert acknowledged_by("ann", " ") == "ann"
    assert acknowledged_by("", "") == ""
    assert downtime_said("7", "", 0.0, "") == "downtime 7 by unknown until 1970-01-01T00:00:00Z"
    assert downtime_said("7", "bob", None, "x") == "downtime 7 by bob: x"


def test_an_acknowledgement_says_who_and_why_from_the_event_or_its_comment() -> None:
    assert acknowledgement_of(ACK_SET) == (("router1", "bgp"), "ann: on it")
    comment = {"host_name": "router1", "service_name": "", "author": "ann",
               "text": "on it", "entry_type": 4, "entry_time": 1795551977.432983}
    assert acknowledgement_of(comment) == (("router1", ""), "ann: on it")
    # A part missing (or not text) is left out; neither part: nothing to say.
    assert acknowledgement_of(ACK_SET | {"author": None}) == (("router1", "bgp"), "on it")
    del_comment = {k: v for k, v in ACK_SET.items() if k != "comment"}
    assert acknowledgement_of(del_comment) == (("router1", "bgp"), "ann")
    assert acknowledgement_of(ACK_SET | {"author": 3, "comment": ""})[1] == ""
    assert acknowledgement_of(ACK_SET | {"host": ""}) is None
    assert acknowledgement_of("not an event") is None


def test_a_downtime_is_named_by_its_name_author_end_and_comment(
        caplog: pytest.LogCaptureFixture) -> None:
    key, fixed = downtime_of(FIXED)
    assert (key, fixed.name, fixed.said) == (("router1", "bgp"), FIXED["name"], FIXED_SAID)
    assert downtime_of(FLEXIBLE)[1].said == FLEXIBLE_SAID
    untriggered = FLEXIBLE | {"trigger_time": 0}  # ends, at the latest, at its window's end
    assert downtime_of(untriggered)[1].said.endswith("until 2026-11-24T21:26:47Z: flex")
    host = downtime_of(FIXED | {"service_name": ""})
    assert host is not None and host[0] == ("router1", "")
    # Missing parts are left out of the words; a downtime without a name is not named.
    bare = {"host_name": "router1", "service_name": "bgp", "name": "d1"}
    assert downtime_of(bare)[1].said == "downtime d1 by unknown"
    assert downtime_of(FIXED | {"end_time": "soon", "comment": None})[1].said == (
        "downtime 98edf516-3037-4054-a7fb-81a92a305beb by bob")
    assert downtime_of(FIXED | {"end_time": 1e300})[1].said == (  # beyond any date
        "downtime 98edf516-3037-4054-a7fb-81a92a305beb by bob: peer maint")
    with caplog.at_level(logging.WARNING):
        assert downtime_of({k: v for k, v in FIXED.items() if k != "name"}) is None
        assert downtime_of(FIXED | {"host_name": None}) is None
    assert "a downtime without its host or name; not named" in caplog.text
    assert downtime_of(None) is None


def test_a_downtime_event_puts_it_in_effect_once_it_is() -> None:
    assert in_effect_by_event(event("DowntimeStarted", FIXED))
    assert not in_effect_by_event(event("DowntimeStarted", FLEXIBLE | {"trigger_time": 0}))
    assert in_effect_by_event(event("DowntimeTriggered", FLEXIBLE))


def test_the_stream_keeps_who_and_every_downtime_in_effect_per_object() -> None:
    """Set, two downtimes, one removed: the other is still named; a flexible downtime
    only started is not in effect until triggered; cleared: nobody."""
    who = WhoAndWhich()
    problem = {"acknowledged": "true", "suppressed": "downtime"}

    def labelled() -> dict[str, Any]:
        item = dict(problem)
        who.label(item, ("router1", "bgp"))
        return item

    who.note(ACK_SET)
    who.note(event("DowntimeStarted", FIXED))
    who.note(event("DowntimeStarted", FLEXIBLE | {"trigger_time": 0}))
    assert labelled() == problem | {"acknowledged_by": "ann: on it",
                                    "suppressed_by": FIXED_SAID}
    who.note(event("DowntimeTriggered", FLEXIBLE))
    who.note(event("DowntimeTriggered", FIXED | {"trigger_time": 1795552007.904006}))
    assert labelled()["suppressed_by"] == f"{FIXED_SAID}; {FLEXIBLE_SAID}"  # oldest first
    who.note(event("DowntimeRemoved", FIXED | {"remove_time": 1795552014.09}))
    assert labelled()["suppressed_by"] == FLEXIBLE_SAID
    who.note(event("DowntimeRemoved", FLEXIBLE))
    who.note(ACK_CLEARED)
    assert labelled() == problem
    assert who.downtimes == {} and who.acknowledgements == {}
    # Another object's, and an object that reads neither, take nothing.
    who.note(ACK_SET | {"service": "ping"})
    assert labelled() == problem
    fine = {"acknowledged": "false", "suppressed": "false"}
    who.label(fine, ("router1", "ping"))
    assert fine == {"acknowledged": "false", "suppressed": "false"}


def test_bad_events_do_not_break_it_and_say_what_they_can(
        caplog: pytest.LogCaptureFixture) -> None:
    """An acknowledgement without author and comment: acknowledged, by nobody said (an
    earlier one's words are not kept for it); a downtime without its name: suppressed,
    not named; events that are not objects: ignored."""
    who = WhoAndWhich()
    who.note(ACK_SET)
    who.note({k: v for k, v in ACK_SET.items() if k not in ("author", "comment")})
    who.note(event("DowntimeTriggered", {k: v for k, v in FIXED.items() if k != "name"}))
    who.note(event("DowntimeTriggered", "garbage"))
    who.note(event("DowntimeRemoved", None))
    for doc in (None, [], {"type": 3}, {"type": "AcknowledgementCleared"}):
        who.note(doc)
    item = {"acknowledged": "true", "suppressed": "downtime"}
    who.label(item, ("router1", "bgp"))
    assert item == {"acknowledged": "true", "suppressed": "downtime"}
    assert "not named" in caplog.text


def test_a_connect_takes_the_newest_acknowledgement_and_the_downtimes_in_effect() -> None:
    """The comment query answers every acknowledgement comment (a persistent one outlives
    its acknowledgement): the newest is who; the downtime query's replace what the stream
    said (the query is the newer)."""
    def comment(author: str, at: float, **extra: Any) -> dict[str, Any]:
        return {"attrs": {"host_name": "router1", "service_name": "bgp", "author": author,
                          "text": "on it", "entry_type": 4, "entry_time": at} | extra,
                "type": "Comment"}

    who = WhoAndWhich()
    who.note(event("DowntimeTriggered", FLEXIBLE))
    who.take_comments([comment("bob", 20.0), comment("ann", 10.0),
                       comment("cy", 30.0, entry_type=1),  # a user's comment: not who
                       comment("", 40.0, text=""),  # says nobody
                       {"attrs": None}, "garbage"])
    who.take_downtimes([{"attrs": FIXED, "type": "Downtime"}, {"attrs": {"name": "x"}}, 7])
    item = {"acknowledged": "true", "suppressed": "downtime"}
    who.label(item, ("router1", "bgp"))
    assert (item["acknowledged_by"], item["suppressed_by"]) == ("bob: on it", FIXED_SAID)


def test_a_deleted_object_takes_its_who_and_which_along() -> None:
    """A service deleted forgets its own acknowledgement and downtimes only; a host
    deleted forgets its services' too (an object of the same name made later inherits
    nothing)."""
    who = WhoAndWhich()
    who.note(ACK_SET)
    who.note(ACK_SET | {"service": "ping"})
    who.note(event("DowntimeStarted", FIXED))
    who.note(ACK_SET | {"host": "router2", "service": "bgp"})
    who.forget(("router1", "bgp"))
    assert set(who.acknowledgements) == {("router1", "ping"), ("router2", "bgp")}
    assert who.downtimes == {}
    who.forget(("router1", ""))
    assert set(who.acknowledgements) == {("router2", "bgp")}


def test_downtimes_and_acknowledgements_end_by_their_own_time() -> None:
    """Each is kept with its end (a fixed downtime's end_time, a triggered flexible one's
    trigger plus duration, an acknowledgement's expiry from its event or its comment's
    expire_time, as 2.13.6 sent them): the earliest is the next end, and an end forgets
    exactly what ended then; an acknowledgement without expiry (0) never ends so."""
    who = WhoAndWhich()
    assert who.next_end() is None
    fixed_end, flexible_end = FIXED["end_time"], FLEXIBLE["trigger_time"] + 600
    expiry = 1795552030.5
    who.note(event("DowntimeTriggered", FIXED | {"trigger_time": 1795552007.9}))
    who.note(event("DowntimeTriggered", FLEXIBLE))
    who.note(ACK_SET | {"expiry": expiry})
    who.note(ACK_SET | {"service": "ping"})  # expiry 0: until removed
    assert who.next_end() == expiry < flexible_end < fixed_end
    assert who.end(expiry - 0.1) == set()
    assert who.end(expiry) == {("router1", "bgp")}
    assert set(who.acknowledgements) == {("router1", "ping")}
    assert who.next_end() == flexible_end
    assert who.end(flexible_end + 1) == {("router1", "bgp")}
    item = {"acknowledged": "true", "suppressed": "downtime"}
    who.label(item, ("router1", "bgp"))
    assert item["suppressed_by"] == FIXED_SAID and "acknowledged_by" not in item
    assert who.end(fixed_end) == {("router1", "bgp")}
    assert (who.downtimes, who.next_end()) == ({}, None)
    # A connect's comment query: the acknowledgement comment's expire_time.
    who.take_comments([{"type": "Comment", "attrs": {
        "host_name": "router1", "service_name": "bgp", "author": "a", "text": "exp",
        "entry_type": 4, "entry_time": 1795562736.63, "expire_time": 1795562740.58}}])
    assert who.next_end() == 1795562740.58
    assert who.end(1795562741.0) == {("router1", "bgp")} and who.acknowledgements == {}
