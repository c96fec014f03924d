"""Writing the site: every file into a fresh directory, swapped in with one rename."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from monitor.site import badge_page
from monitor.site.badges import badge_endpoint, badge_label, badge_svg
from monitor.site.documents import dump, providers_document, statuspage_documents, write_sttwatch
from monitor.site.feed import atom_feed
from monitor.site.model import SiteView
from monitor.site.templates import (
    render_badges_page,
    render_incident_page,
    template_dir,
    write_index,
)

PROVIDERS_FILE = "api/v1/providers.json"
"""The providers side by side; ``sttwatch run`` serves it as ``/api/v1/providers`` too."""

_STREAMED: Mapping[str, Callable[[SiteView, BinaryIO], None]] = {
    "index.html": write_index,
    "api/sttwatch.json": write_sttwatch,
}
"""The large files of the site, written straight to their file rather than built in memory."""


def _small_files(view: SiteView) -> Iterator[tuple[str, bytes]]:
    """Yield (relative path, bytes) of every file of the site but the `_STREAMED` ones."""
    for name, doc in statuspage_documents(view).items():
        yield f"api/v2/{name}", dump(doc)
    yield PROVIDERS_FILE, dump(providers_document(view))
    yield "feed.atom", atom_feed(view)
    # A page per incident the site shows; a resolved one's bytes rarely change, so it is
    # hard-linked from the previous site rather than written again.
    shown = {i.id: i for i in (*view.open_incidents, *view.recent_incidents, *view.feed_incidents)}
    for incident in shown.values():
        yield incident.page, render_incident_page(view, incident)
    for g in view.groups:
        for c in g.components:
            label = badge_label(g, c)
            yield f"badges/{c.id}.svg", badge_svg(label, c.state).encode()
            yield f"badges/{c.id}.json", dump(badge_endpoint(label, c.state))
    yield "badges.html", render_badges_page(view, badge_page.build(view)).encode()
    static = template_dir() / "static"
    for path in sorted(static.rglob("*")):
        if path.is_file():
            yield f"static/{path.relative_to(static).as_posix()}", path.read_bytes()


def site_files(view: SiteView) -> dict[str, bytes]:
    """Return every file of the site as relative path → bytes (what `write_site` writes)."""
    files: dict[str, bytes] = {}
    for rel, write in _STREAMED.items():
        buf = io.BytesIO()
        write(view, buf)
        files[rel] = buf.getvalue()
    files.update(_small_files(view))
    return files


def _same_file(path: str, data: bytes) -> bool:
    """Return True if `path` is a regular file (not a symlink) holding exactly `data`."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def _write_files(view: SiteView, root: Path, previous: Path | None) -> None:
    """Write every file of the site under `root`; a file unchanged since `previous` is linked.

    Creating a file costs far more than reading one or adding a link to it
    (0.5 ms of CPU against ~0.02 ms here): at a thousand components the two
    badges each, which change only with a component's state, made most of a
    render's cost. The previous site's files are never written again, so the
    new site sharing them is safe. Paths are plain strings: thousands of
    pathlib joins were a third of what is left.
    """
    made: set[str] = set()
    new_root = os.fspath(root)
    old_root = os.fspath(previous) if previous is not None else None

    def path_of(rel: str) -> str:
        path = os.path.join(new_root, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        return path

    for rel, write in _STREAMED.items():
        with open(path_of(rel), "wb") as out:
            write(view, out)
    for rel, data in _small_files(view):
        path = path_of(rel)
        if old_root is not None:
            old = os.path.join(old_root, rel)
            if _same_file(old, data):
                try:
                    os.link(old, path, follow_symlinks=False)
                    continue
                except OSError:
                    pass  # another file system, links not allowed: write it
        with open(path, "wb") as out:
            out.write(data)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories with renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


class SiteWriteError(Exception):
    """The site could not be written to its directory (``sttwatch render`` names it)."""

    def __init__(self, site_dir: str | os.PathLike[str], cause: OSError) -> None:
        super().__init__(f"cannot write the site to {site_dir}: {cause}")
        self.cause = cause


def write_site(view: SiteView, site_dir: str | os.PathLike[str]) -> Path:
    """Write the site for `view` into `site_dir`, swapped in atomically; return its path."""
    target = Path(site_dir).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    previous = target if target.is_dir() and not target.is_symlink() else None
    try:
        _write_files(view, fresh, previous)
        # mkdtemp makes 0700; a static host must be able to read the site.
        for dirpath, _, filenames in os.walk(fresh):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        if not target.exists() and not target.is_symlink():
            os.rename(fresh, target)
        elif target.is_dir() and not target.is_symlink() and _exchange(fresh, target):
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            # No atomic exchange here: move the old site aside, then the new one in.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            os.rename(fresh, target)
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return target
