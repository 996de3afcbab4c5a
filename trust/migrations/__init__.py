"""Alembic migrations (one head). Like the composition roots, this package knows every model."""
