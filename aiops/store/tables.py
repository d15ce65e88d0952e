"""The engine's tables: alerts (deduplicated conditions), every raw event, incidents.

Raw events are append-only: every accepted event is kept even when it folded into
an existing alert, or, a clear of a condition the engine never saw firing, made none,
because audits and retraining need exactly what was received.
Times are float epoch seconds, the engine's internal unit.
"""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    false,
    text,
)

from aiops.store.metadata import metadata
from topology.model import MAX_ID_LENGTH as MAX_NODE_ID

# Where a playbook run waits for approval, is still to run or is running, and was not
# forced (migrations 0013 and 0017).
IN_FLIGHT = text("status IN ('needs-approval', 'queued', 'running') AND NOT forced")

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("merged_into", String(32)),
    Column("alert_count", Integer, nullable=False),
    Column("root_causes", JSON, nullable=False),
    # The hindsight split's state (aiops.engine.hindsight; migration 0010).
    Column("settled", Boolean),
    Column("split_note", Text),
    Index("ix_incidents_status_started", "status", "started_at"),
    # Newest first across statuses (the list without one, and filtered): migration 0024.
    Index("ix_incidents_started", "started_at", "seq"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("fingerprint", String(64), nullable=False),
    Column("first_event_id", String(256), nullable=False),
    Column("source", String(256), nullable=False),
    Column("name", String(256), nullable=False),
    Column("entity", String(MAX_NODE_ID), nullable=False),
    Column("node_id", String(MAX_NODE_ID)),
    Column("severity", String(16), nullable=False),
    Column("summary", Text, nullable=False),
    Column("description", Text),
    Column("labels", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("starts_at", Float, nullable=False),
    Column("ends_at", Float),
    Column("last_event_at", Float, nullable=False),
    # When the current episode began (its last re-fire); NULL: at starts_at.
    Column("episode_start", Float),
    # Times of its state changes within the flap window (flapping is read from them);
    # NULL: none.
    Column("recent_transitions", JSON(none_as_null=True)),
    # The latest start times reported while it fires, until a clear (a steady beat of
    # them is a sender's repeat, aiops.engine.beat); NULL: none (migration 0027).
    Column("recent_starts", JSON(none_as_null=True)),
    Column("event_count", Integer, nullable=False),
    Column("transitions", Integer, nullable=False),
    Column("flapping", Boolean, nullable=False),
    Column("incident_id", String(32), ForeignKey("incidents.id")),
    # Why it is in its incident: the placement decision and later moves
    # (aiops.engine.placement); NULL: placed before migration 0026.
    Column("placement", JSON(none_as_null=True)),
    Index("ix_alerts_fingerprint", "fingerprint"),
    Index("ix_alerts_incident", "incident_id"),
    # Firing alerts grouped by incident (the acknowledged and suppressed filters), and
    # by status alone through its prefix (migration 0024).
    Index("ix_alerts_status_incident", "status", "incident_id"),
    # The incident list's entity filter: alerts on a node or an entity string (0024).
    Index("ix_alerts_node", "node_id"),
    Index("ix_alerts_entity", "entity"),
    # Every time window on stored alerts (restart, pace seed, drift, shadow, retraining).
    Index("ix_alerts_starts_at", "starts_at"),
)

raw_events = Table(
    "raw_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("event_id", String(256), nullable=False),
    Column("source", String(256), nullable=False),
    Column("received_at", Float, nullable=False),
    # None for a clear that ended no alert (disposition unmatched_clear, migration 0008)
    # or a state report of no firing alert (unmatched_report)
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=True),
    Column("disposition", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Index("ix_raw_events_event_id", "event_id"),
    Index("ix_raw_events_alert", "alert_id"),
)

# The engine's own readings that a restart must find as they were and that no row
# above holds: the live pace's scale, schedule and type precedence
# (``aiops.engine.pace``), written with the batch whose event made the fit (0021).
engine_state = Table(
    "engine_state",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("state", JSON, nullable=False),
)

# Single sign-on's sessions (aiops/api/session_store.py, migration 0022): a signed
# cookie counts only while its row is here, not ended and not expired, so signing out
# (or ``aiops sessions end``) ends every copy of the cookie at once. ``id`` is the
# SHA-256 of the random id the cookie carries. Ended and expired rows are deleted when
# a session is started, so the table holds about the sessions alive.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_name", String(256), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("ended_at", Float),
    # The scopes as last read (space-separated; NULL: the cookie's), when, and the
    # provider's refresh token sealed under the cookie's id (migration 0023).
    Column("scopes", String(64)),
    Column("checked_at", Float),
    Column("refresh_sealed", LargeBinary),
    Index("ix_sessions_user", "user_name"),
)

# Operator feedback (merge, split): who did what and when, with the alert sets of every
# incident it touched before and after. Kept as an audit trail and read by training as
# labelled groups; no foreign key, so the record outlives anything it names.
feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("incident_id", String(32), nullable=False),
    Column("incidents", JSON, nullable=False),
    Column("author", String(256)),
    Column("comment", Text),
    Column("created_at", Float, nullable=False),
    Column("alerts_before", JSON, nullable=False),
    Column("alerts_after", JSON, nullable=False),
    Index("ix_feedback_incident", "incident_id"),
)

# Playbook runs (aiops/playbooks): what an operator asked to run against an incident,
# the steps exactly as they were filled in (secrets from ${ENV} are not), and each
# step's outcome, written after every step so a run that dies midway shows how far it
# got. An audit trail: no foreign key, so the record outlives the incident.
playbook_runs = Table(
    "playbook_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(32), nullable=False),
    Column("playbook", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("requested_by", String(256)),
    Column("requested_at", Float, nullable=False),
    # A queued run not started by then is given up (aiops/playbooks/runs.py).
    Column("start_by", Float),
    Column("started_at", Float),
    # Set when a worker claims it: a running run with no outcome by then is abandoned.
    Column("give_up_at", Float),
    # Bumped by every write of the worker, so giving a run up cannot overwrite an
    # outcome stored after it was read.
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("finished_at", Float),
    Column("action", Text),
    Column("reasons", JSON, nullable=False),
    Column("steps", JSON, nullable=False),
    Column("error", Text),
    # What the client named the request by (``Idempotency-Key``): asking again with
    # the same key for the same incident and playbook returns this run (a retry, a
    # double click) rather than running the playbook twice.
    Column("idempotency_key", String(256)),
    # Asked for with ``force`` while another run of the playbook on the incident was
    # queued or running; every other such run is one of a kind (the index below).
    Column("forced", Boolean, nullable=False, server_default=false()),
    # An operator's yes or no to a run a policy asked for with ``approval`` (migration
    # 0017): who, when, and what they said.
    Column("decided_by", String(256)),
    Column("decided_at", Float),
    Column("decision_note", Text),
    Index("ix_playbook_runs_incident", "incident_id"),
    Index("ix_playbook_runs_key", "incident_id", "playbook", "idempotency_key", unique=True),
    # At most one unforced run of a playbook per incident in flight: two requests at the
    # same moment cannot both pass the check before either is stored.
    Index("ix_playbook_runs_in_flight", "incident_id", "playbook", unique=True,
          sqlite_where=IN_FLIGHT, postgresql_where=IN_FLIGHT),
)
