"""Reading and writing the engine's own state rows (``engine_state``, migration 0021).

Why a table and not a file in the data dir: the state must be written in the same
transaction as the batch it belongs to, so that a restart finds the state and the
events it was read from together, or neither (a failed batch stores neither).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from aiops.store.tables import engine_state


def save_state(conn: sa.Connection, name: str, state: dict[str, Any]) -> None:
    """Replace the row ``name`` with ``state`` (in the caller's transaction)."""
    conn.execute(sa.delete(engine_state).where(engine_state.c.name == name))
    conn.execute(sa.insert(engine_state).values(name=name, state=state))


def load_state(conn: sa.Connection, name: str) -> dict[str, Any] | None:
    """The row ``name``'s state, or None when there is none (or it is not an object)."""
    value = conn.execute(sa.select(engine_state.c.state)
                         .where(engine_state.c.name == name)).scalar()
    return value if isinstance(value, dict) else None
