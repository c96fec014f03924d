"""A real PostgreSQL cluster for the tests: initdb and pg_ctl in a temporary directory.

The server refuses to run as root, so when the tests run as root the cluster
belongs to an unprivileged system user (``sttwatch-test``, created if absent)
and every server command runs as that user. It listens on a free loopback port
and on a unix socket inside its own directory, with durability switched off
(``fsync``, ``synchronous_commit``, ``full_page_writes``): a test database is
thrown away anyway. Each test gets its own database, created empty from
``template0``, so tests stay independent of each other and of xdist's order.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PostgresCluster", "find_bin_dir", "start_cluster"]

TEST_USER = "sttwatch-test"
SUPERUSER = "sttwatch"


def find_bin_dir() -> Path | None:
    """Return the newest Debian PostgreSQL bin directory holding initdb and pg_ctl, or None."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(
            os.path.join(d, "pg_ctl"), os.X_OK
        ):
            with contextlib.suppress(ValueError):
                found.append((int(Path(d).parent.name), Path(d)))
    # A PATH with initdb (another distribution, a source build) is taken too.
    if not found and shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(shutil.which("initdb") or "").parent
    return max(found)[1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _server_user() -> str | None:
    """Return the user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
            capture_output=True,
        )
    return TEST_USER


@dataclass
class PostgresCluster:
    """A running cluster: where it lives, how to reach it, and a fresh database per call."""

    bin_dir: Path
    root: Path
    port: int
    user: str | None
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data_dir(self) -> Path:
        """Return the cluster's data directory."""
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        """Return the directory of the server's unix socket."""
        return self.root / "run"

    def url(self, database: str = "postgres") -> str:
        """Return the libpq URL of `database` on this cluster (TCP on loopback)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """Create an empty database (its own name), return its URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of `url`, closing what still connects to it."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run pg_ctl on this cluster as the server's user."""
        return subprocess.run(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), *args],
            user=self.user,
            check=check,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> subprocess.CompletedProcess[str]:
        """Start the server (again) with the test settings, on this cluster's port; wait for it."""
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "'32MB'",
        }
        # In postgresql.auto.conf (read last), as ALTER SYSTEM would write them: kept by restarts.
        auto = self.data_dir / "postgresql.auto.conf"
        auto.write_text("".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
        log = str(self.root / "server.log")
        return self.pg_ctl("start", "-w", "-t", "60", "-l", log, check=False)

    def stop(self) -> None:
        """Stop the server (fast: open sessions are ended) and delete its directory."""
        try:
            self.pg_ctl("stop", "-m", "fast", "-w", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bin_dir: Path, attempts: int = 5) -> PostgresCluster:
    """Initialise and start a cluster on a free port; raise RuntimeError with the log if not."""
    user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="sttwatch-pg-"))
    (root / "run").mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, root / "run"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=user,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        last = ""
        # A port found free can be taken before the server binds it: try another.
        for _ in range(attempts):
            cluster = PostgresCluster(bin_dir, root, _free_port(), user)
            done = cluster.start()
            if done.returncode == 0:
                return cluster
            log = root / "server.log"
            last = log.read_text(errors="replace") if log.exists() else done.stderr
        raise RuntimeError(f"PostgreSQL did not start in {root}:\n{last}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
