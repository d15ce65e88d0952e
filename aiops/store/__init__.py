"""Storage: SQLAlchemy 2 Core tables, Alembic migrations, repositories."""
