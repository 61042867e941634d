"""Operator console: FastAPI backend and bundled web front end."""
