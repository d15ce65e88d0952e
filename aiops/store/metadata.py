"""The one SQLAlchemy MetaData shared by the engine's and the topology's tables.

Kept in its own module so ``topology`` can declare its tables without importing
the engine's, and Alembic sees both through one object.
"""

from sqlalchemy import MetaData

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
