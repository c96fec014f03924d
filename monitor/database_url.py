"""What the config's ``database`` names: a SQLite file, or a PostgreSQL server by URL.

The config, the CLI's messages and the store all ask the same two questions —
which kind is it, and how is it shown without its password — so they ask here.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator

from monitor.redaction import mask_password, password_secrets

__all__ = [
    "Database",
    "database_secrets",
    "is_postgres_url",
    "literal_password",
    "masked_database",
    "postgres_url_problem",
]

_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(database: str) -> bool:
    """Return True when `database` is a PostgreSQL URL (``postgresql://``), not a file path."""
    return database.startswith(_SCHEMES)


def database_secrets(database: str) -> list[str]:
    """Return the password of a PostgreSQL URL (raw and as written), for log redaction."""
    return password_secrets(database) if is_postgres_url(database) else []


def masked_database(database: str) -> str:
    """Return `database` fit for logs and check-config: a URL's password masked, a path as is."""
    return mask_password(database) if is_postgres_url(database) else database


def postgres_url_problem(database: str) -> str | None:
    """Return what is wrong with a PostgreSQL URL (no database name, a bad port), or None."""
    parts = urlsplit(database)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"bad port in the PostgreSQL URL: {exc}"
    if not parts.path.strip("/"):
        return "the PostgreSQL URL names no database (postgresql://user:password@host:5432/NAME)"
    return None


def literal_password(value: Any) -> bool:
    """Return True when a config file's raw `database` value holds a password, not ${VAR}."""
    return isinstance(value, str) and "${" not in value and bool(database_secrets(value))


def _checked(value: str) -> str:
    if is_postgres_url(value):
        problem = postgres_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
    return value


# The config's `database`: a SQLite file (the embedded default) or a PostgreSQL URL,
# postgresql://user:password@host:port/db, checked when the config is read.
Database = Annotated[str, AfterValidator(_checked)]
