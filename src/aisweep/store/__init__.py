"""Result storage: SQLAlchemy Core tables, migrations and queries (SQLite default, PostgreSQL optional)."""
