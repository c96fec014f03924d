"""Every module the code imports is declared: a fresh virtualenv has it.

scripts/test.sh installs only the package and its `test` extra into a virtualenv of its own,
and a user's `pip install` only the package, so an import that some other package happens
to pull in, or that only the machine's Python has, would break a fresh machine. Each
top-level module imported anywhere under tests/ or bench/ must be the standard library, the
project itself, a module beside the tests, or come from a distribution named in the runtime
dependencies or the `test` extra; one imported under monitor/ must come from a runtime
dependency (a user's install has no `test` extra).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Sequence
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"monitor", "bench", "tests"}


def _normalized(name: str) -> str:
    """Return a distribution name in PEP 503 form (lower case, runs of -_. as one -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions(pyproject: Path, extras: Sequence[str] = ("test",)) -> set[str]:
    """Return the normalized names of the runtime dependencies and those of `extras`."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    names = set()
    for requirement in requirements:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"pyproject.toml: cannot read the requirement {requirement!r}"
        names.add(_normalized(match.group(1)))
    return names


def imported_modules(path: Path) -> set[str]:
    """Return the top-level module names that `path` imports (absolute imports only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def _local(module: str, path: Path, root: Path) -> bool:
    """Return whether `module` is a file or package beside `path` or at the top of tests/."""
    for folder in {path.parent, root / "tests"}:
        if (folder / f"{module}.py").is_file() or (folder / module / "__init__.py").is_file():
            return True
    return False


def undeclared_imports(
    root: Path, files: list[Path], declared: set[str], providers: dict[str, list[str]]
) -> list[str]:
    """Return "file: module (why)" for every import no declared distribution provides."""
    problems = []
    for path in files:
        for module in sorted(imported_modules(path)):
            if module in sys.stdlib_module_names or module in PROJECT_PACKAGES:
                continue
            if _local(module, path, root):
                continue
            dists = {_normalized(d) for d in providers.get(module, [])}
            if dists & declared:
                continue
            why = f"from {', '.join(sorted(dists))}" if dists else "not installed"
            problems.append(f"{path.relative_to(root)}: {module} ({why}, not declared)")
    return problems


def _python_files() -> list[Path]:
    return sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("bench/**/*.py")])


def test_every_test_import_is_declared() -> None:
    declared = declared_distributions(ROOT / "pyproject.toml")
    problems = undeclared_imports(ROOT, _python_files(), declared, packages_distributions())
    assert problems == [], "add these to pyproject.toml's `test` extra:\n" + "\n".join(problems)


def test_every_runtime_import_is_a_runtime_dependency() -> None:
    # markupsafe came with jinja2, but monitor/site/templates.py imports it itself.
    declared = declared_distributions(ROOT / "pyproject.toml", extras=())
    files = sorted(ROOT.glob("monitor/**/*.py"))
    problems = undeclared_imports(ROOT, files, declared, packages_distributions())
    assert problems == [], "add these to pyproject.toml's dependencies:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import cryptography.x509\n", ["case.py: cryptography (from cryptography, not declared)"]),
        ("from hypothesis import given\n", ["case.py: hypothesis (from hypothesis, not declared)"]),
        (
            "import no_such_module_here\n",
            ["case.py: no_such_module_here (not installed, not declared)"],
        ),
        ("import json, pytest\nfrom monitor import cli\nfrom . import x\n", []),
        ("def f():\n    import yaml\n", []),
    ],
    ids=["cryptography", "hypothesis", "unknown", "declared-stdlib-project-relative", "nested"],
)
def test_the_check_names_what_is_missing(tmp_path: Path, source: str, expected: list[str]) -> None:
    # The check itself on a file of known imports, against a declaration without the two
    # modules issue 12 found missing (so it keeps failing for them if they are dropped).
    case = tmp_path / "case.py"
    case.write_text(source, encoding="utf-8")
    declared = {"pytest", "pyyaml"}
    providers = {"cryptography": ["cryptography"], "hypothesis": ["hypothesis"]}
    providers |= {"pytest": ["pytest"], "yaml": ["PyYAML"]}
    assert undeclared_imports(tmp_path, [case], declared, providers) == expected
