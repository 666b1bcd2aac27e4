"""Persistence: SQLAlchemy tables, repositories, secret encryption, migrations."""
