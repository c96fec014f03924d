"""``database:`` in the config: a file path or a PostgreSQL URL, checked and masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import ConfigError
from monitor.database_url import masked_database
from tests.support.configs import config_doc, parsed

TARGET = {"name": "t", "api_key": "k" * 32}


@pytest.mark.parametrize(
    ("database", "shown"),
    [
        ("sttwatch.db", "sttwatch.db"),
        ("postgresql://u:hunter22@db:5432/sw", "postgresql://u:****@db:5432/sw"),
        ("postgres://u:p%40ss@db/sw?sslmode=require", "postgres://u:****@db/sw?sslmode=require"),
        ("postgresql://u@db/sw", "postgresql://u@db/sw"),
    ],
    ids=["sqlite-path", "password", "encoded-password-and-params", "no-password"],
)
def test_the_database_is_shown_without_its_password(
    tmp_path: Path, database: str, shown: str
) -> None:
    doc = config_doc(tmp_path, [TARGET])
    doc["database"] = database
    cfg = parsed(doc)
    assert masked_database(cfg.database) == shown
    assert cfg.masked()["database"] == shown
    for secret in cfg.secrets():
        assert secret not in str(cfg.masked())
    if "hunter22" in database:
        assert "hunter22" in cfg.secrets()  # scrubbed from the logs too


@pytest.mark.parametrize(
    ("database", "problem"),
    [
        ("postgresql://u:p@db:5432/", "names no database"),
        ("postgresql://u:p@db:port/sw", "bad port"),
    ],
    ids=["no-database-name", "port-not-a-number"],
)
def test_a_bad_postgresql_url_is_named_at_its_path(
    tmp_path: Path, database: str, problem: str
) -> None:
    doc = config_doc(tmp_path, [TARGET])
    doc["database"] = database
    with pytest.raises(ConfigError) as err:
        parsed(doc)
    [(path, message)] = err.value.problems
    assert path == "database" and problem in message
    assert "p@db" not in message
