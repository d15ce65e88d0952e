"""The outbox of incident deliveries: one row per (sink, incident).

A row is both the outbox entry and what the sink knows of the incident on the
other side: the version last queued, the version last delivered, the receiver's own
id for it (ServiceNow's ``sys_id``), the last error, since when it waits and which
delivery loop is sending it. One row per incident per sink
keeps the outbox bounded: an incident's pending updates collapse into its latest
state, which the delivery loop reads from the incidents table when it sends, and
with a single row the updates of one incident cannot overtake each other.
"""

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text

from aiops.store.metadata import metadata

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"

sink_deliveries = Table(
    "sink_deliveries",
    metadata,
    Column("sink", String(256), primary_key=True),
    Column("incident_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),  # of the latest change queued
    Column("fingerprint", JSON, nullable=False),  # what the receiver cares about, queued
    Column("status", String(16), nullable=False),  # pending, delivered, failed
    Column("changed_at", Float, nullable=False),  # wall clock of the latest change queued
    Column("next_attempt_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),  # failed attempts since the last success
    Column("delivered_version", Integer, nullable=False),  # 0: never delivered
    Column("delivered_fingerprint", JSON),
    Column("delivered_at", Float),
    Column("external_id", String(256)),  # the receiver's id of the incident
    Column("last_attempt_at", Float),
    Column("last_error", Text),
    # When the row last became pending (new, or changed after a delivery or a final
    # failure): what ``aiops sinks status`` measures a stuck receiver from (0018).
    Column("pending_since", Float),
    # The delivery loop's lease on the row while it sends it (0018): which loop, and
    # until when; another loop leaves the row alone until then.
    Column("claimed_by", String(128)),
    Column("claimed_until", Float),
    Index("ix_sink_deliveries_due", "status", "next_attempt_at"),
)

# What a receiver last knew of an incident whose row retention deleted (0019): the
# row queued again when the incident re-opens goes on from here (its version grows
# on, its first document says ``reopened``) and takes the tombstone's place.
sink_tombstones = Table(
    "sink_tombstones",
    metadata,
    Column("sink", String(256), primary_key=True),
    Column("incident_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("delivered_version", Integer, nullable=False),
    Column("delivered_fingerprint", JSON),
)
