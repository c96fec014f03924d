"""One composition root: only monitor/app.py builds the parts of a running sttwatch.

`run`, `once`, `render` and `demo` all reach the store, metrics, alerter,
site renderer and health report through :mod:`monitor.app`; a second place
that opens a store or builds an alerter is a second root to keep in step.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

MONITOR = Path(__file__).resolve().parents[2] / "monitor"

# What only the composition root builds, and the calls (as written) that build it.
BUILDS = {
    "the store": ("Store.open",),
    "the metrics": ("Metrics",),
    "the alerter": ("Alerter",),
    "the site renderer": ("SiteRenderer",),
    "the health report": ("Health", "DeliveryHealth"),
    "the web routes": ("add_routes", "server.add_routes"),
}
BUILDER = {call: part for part, calls in BUILDS.items() for call in calls}


def callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def built_outside_the_root() -> list[str]:
    found = []
    for path in sorted(MONITOR.rglob("*.py")):
        rel = path.relative_to(MONITOR.parent)
        if rel.parts[1] in ("app.py", "simulator"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(rel))):
            if isinstance(node, ast.Call) and (name := callee(node)) in BUILDER:
                found.append(f"{rel}:{node.lineno} builds {BUILDER[name]} ({name})")
    return found


def test_only_the_composition_root_builds_the_running_parts() -> None:
    assert built_outside_the_root() == []


@pytest.mark.parametrize("part", sorted(BUILDS))
def test_the_root_builds_each_part(part: str) -> None:
    # The check above looks for the calls that really build each part.
    tree = ast.parse((MONITOR / "app.py").read_text())
    calls = {callee(n) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert calls & set(BUILDS[part])
