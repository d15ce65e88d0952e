"""Opening the database and bringing its schema to the newest Alembic revision.

SQLite in the data dir is the embedded default; any SQLAlchemy URL (PostgreSQL in
production) can be given instead. Migrations run on open so a new data dir, an old
one and a fresh PostgreSQL database all end at the same schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import event

from aiops.store.json_column import column_json

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The newest migration's revision. A database already there needs no Alembic at all,
# and importing Alembic (with the dialects it loads) took ~0.25 s of every CLI
# command's start; tests/integration/test_storage.py checks this against Alembic's head.
HEAD_REVISION = "0027"

def _tune_sqlite(dbapi_connection, _record) -> None:
    """Settings for every new SQLite connection of the data dir.

    WAL lets the web view read while ingestion writes, and a commit is one append to
    the log. With WAL, ``synchronous=NORMAL`` syncs at checkpoints rather than on
    every commit: a committed batch survives a crash of the process; a power cut or
    OS crash can lose the last few committed batches but never corrupts the file or
    keeps half a batch (each batch is one transaction). FULL would add an fsync per
    batch for the last of those guarantees.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()

def create_db_engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for ``url`` with the settings this project relies on."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False},
                                  json_serializer=column_json)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, json_serializer=column_json)

def alembic_config(engine: sa.Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg

def stored_revision(engine: sa.Engine) -> str | None:
    """The schema revision the database says it is at (None: not migrated yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: sa.Engine) -> None:
    """Upgrade the schema to the newest revision (a no-op when already there)."""
    if stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")

def open_database(url: str) -> sa.Engine:
    engine = create_db_engine(url)
    migrate(engine)
    return engine
