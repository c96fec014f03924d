"""A clone is self-contained: nothing cites design or protocol notes outside the repository.

The design notes are docs/design.md and the protocol notes docs/protocol-assemblyai.md;
a citation of a file beside the checkout (the team's shared folder) or of the old note
names would point a reader of a clone at nothing. Every relative link in a Markdown file
must also lead to a file of the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.checkout import checkout_files

ROOT = Path(__file__).resolve().parents[2]
# Written as patterns so this file does not cite what it forbids.
FORBIDDEN = re.compile(r"\.\./shared|shared/spec[s]|\bDESIGN\.md|\bPROTOCOL\.md")
LINK = re.compile(r"\]\(([^)\s]+)\)")
OLD_DESIGN, OLD_PROTOCOL = "DESIGN" + ".md", "PROTOCOL" + ".md"
SHARED = "../../" + "shared/" + "specs"


def tracked_text_files(root: Path) -> list[Path]:
    """Return the files of the checkout (tracked and new, not ignored) that are text."""
    return [
        path
        for path in checkout_files(root)
        if path.is_file() and not path.is_symlink() and b"\0" not in path.read_bytes()[:8192]
    ]


def foreign_citations(root: Path, files: list[Path]) -> list[str]:
    """Return "file:line: text" for every citation of a note outside the repository."""
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    return found


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """Return "file: target" for every relative Markdown link that leads to no repo file."""
    found = []
    for path in files:
        if path.suffix != ".md":
            continue
        for target in LINK.findall(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:|^#", target):  # a URL or an anchor
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(root) or not resolved.exists():
                found.append(f"{path.relative_to(root)}: {target}")
    return found


def test_no_file_cites_notes_outside_the_repository() -> None:
    found = foreign_citations(ROOT, tracked_text_files(ROOT))
    assert found == [], "cite docs/design.md or docs/protocol-assemblyai.md instead:\n" + (
        "\n".join(found)
    )


def test_every_relative_markdown_link_leads_to_a_file_of_the_repository() -> None:
    assert broken_links(ROOT, tracked_text_files(ROOT)) == []


def test_the_notes_the_code_cites_exist() -> None:
    for note in ("docs/design.md", "docs/protocol-assemblyai.md"):
        assert (ROOT / note).is_file(), note


@pytest.mark.parametrize(
    ("text", "cited"),
    [
        (f"see {OLD_DESIGN} §3\n", True),
        (f"[notes]({SHARED}/assemblyai/{OLD_PROTOCOL})\n", True),
        (f"{OLD_PROTOCOL} §2.7\n", True),
        ("see docs/design.md §3 and docs/protocol-assemblyai.md §2.7\n", False),
    ],
    ids=["design-note", "shared-folder-link", "protocol-note", "the-repos-own-notes"],
)
def test_the_check_finds_what_it_forbids(tmp_path: Path, text: str, cited: bool) -> None:
    case = tmp_path / "case.md"
    case.write_text(text, encoding="utf-8")
    assert bool(foreign_citations(tmp_path, [case])) is cited


def test_the_link_check_finds_a_link_out_of_the_repository(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    page = tmp_path / "docs" / "page.md"
    (tmp_path / "docs" / "there.md").write_text("x\n", encoding="utf-8")
    page.write_text(
        "[a](there.md) [b](../../outside/x.md) [c](missing.md) [d](https://x.org/) [e](#top)\n",
        encoding="utf-8",
    )
    assert broken_links(tmp_path, [page]) == [
        "docs/page.md: ../../outside/x.md",
        "docs/page.md: missing.md",
    ]
