"""What ``sttwatch run`` checks before it writes anything: paths it will create or write.

The database and the site directory are only looked at here, never created
(writability is tried with a scratch file, removed at once): a check that fails
leaves the machine as it was. The listen address is bound
by :func:`monitor.server.bind` before these run.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from monitor.database_url import is_postgres_url

__all__ = ["StartupError", "check_database", "check_site_dir"]


class StartupError(Exception):
    """``sttwatch run`` cannot start: the message says what and where."""


def _creatable(path: Path) -> str | None:
    """Return why `path` (a file or directory yet to exist) could not be created, or None."""
    parent = path.parent
    while not parent.exists():
        if parent.is_symlink():  # a dangling link where a directory is expected
            return f"{parent} is a broken symbolic link"
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a directory"
    return _writable(parent)


def _writable(directory: Path) -> str | None:
    """Return why nothing can be created in `directory`, or None: by creating a file there.

    Not os.access: for root it says yes to a read-only mount or /sys, where the
    write itself then fails.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=".sttwatch-check-", dir=directory)
    except OSError as exc:
        return f"{directory} is not writable ({exc.strerror or type(exc).__name__})"
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def check_database(database: str) -> None:
    """Raise StartupError when the database can be neither opened nor created at `database`.

    A PostgreSQL URL is not looked at here: opening the store connects to it.
    """
    if is_postgres_url(database):
        return
    path = Path(database)
    if path.exists():
        if not path.is_file():
            raise StartupError(f"cannot open the database {database}: it is not a file")
        # SQLite writes its journal and WAL next to the database.
        if not os.access(path, os.R_OK | os.W_OK) or _writable(path.parent) is not None:
            raise StartupError(f"cannot open the database {database}: not writable")
        return
    why = _creatable(path)
    if why is not None:
        raise StartupError(f"cannot create the database {database}: {why}")


def check_site_dir(site_dir: str) -> None:
    """Raise StartupError when the site cannot be written at `site_dir`.

    The site is written beside `site_dir` and swapped in, so its parent must be
    a writable directory (or creatable), and `site_dir` itself, when it exists,
    a directory: a file there is not replaced.
    """
    path = Path(site_dir).absolute()
    if path.exists() and not path.is_dir():
        raise StartupError(f"cannot write the site to {site_dir}: it is not a directory")
    why = _creatable(path)
    if why is not None:
        raise StartupError(f"cannot write the site to {site_dir}: {why}")
