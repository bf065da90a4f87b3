"""Alembic migrations; run with ``hubao db upgrade`` (or automatically at start-up)."""
