"""The files of this checkout as a clone of it would have them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def checkout_files(root: Path) -> list[Path]:
    """Return the files under `root` that git tracks or would add (not ignored), that exist."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    # A tracked file deleted in the work tree (not yet committed) is not there to read.
    return [
        root / name for name in filter(None, listed.split("\0")) if os.path.lexists(root / name)
    ]
