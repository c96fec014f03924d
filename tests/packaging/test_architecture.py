"""The architecture rules of docs/design.md §1 and rule 1 of §4, checked on the source itself.

Import rules are read from the AST of every module under ``monitor/`` — every
``import``, wherever it stands (module level, ``TYPE_CHECKING`` blocks, inside
functions) — so a lazy import cannot slip past them:

- a probe talks only to the remote API: it imports no store, metrics,
  alerting or templates;
- the simulator is a separate world: it imports nothing from ``monitor``, and
  only the CLI's ``simulate`` and ``demo`` commands import it;
- only ``monitor/store/`` touches SQLite, only ``monitor/metrics.py`` defines
  Prometheus metrics, only ``monitor/site/templates.py`` renders templates.

Rule 1: every probe kind of the config schema is registered in
``monitor.probes.PROBES`` and documented in docs/probes.md and
sttwatch.example.yaml; and every config key is documented in the example.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from monitor.config import Config
from monitor.probes import PROBES, probe_types, providers
from monitor.probes.registry import BUILTIN_PROVIDERS

ROOT = Path(__file__).resolve().parents[2]
MONITOR = ROOT / "monitor"

# prometheus_client names that create a metric (exposition helpers are fine elsewhere).
METRIC_CLASSES = frozenset({"Counter", "Gauge", "Histogram", "Summary", "Info", "Enum", "metrics"})


@dataclass(frozen=True, slots=True)
class Import:
    """One imported name: the module it comes from and, for ``from`` imports, the name."""

    module: str  # absolute dotted module ("monitor.store.api", "sqlite3")
    name: str | None  # the imported name of a ``from`` import, else None
    line: int


def module_name(path: Path, root: Path) -> str:
    """Return the dotted module name of `path` under `root` (its parent holds the package)."""
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> Iterator[Import]:
    """Yield every import in `source`, relative ones resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, None, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                origin = ".".join([*base, node.module] if node.module else base)
            else:
                origin = node.module or ""
            for alias in node.names:
                yield Import(origin, alias.name, node.lineno)


def targets(imp: Import) -> set[str]:
    """Return the modules `imp` may load: ``from monitor import store`` loads monitor.store."""
    found = {imp.module}
    if imp.name is not None:
        found.add(f"{imp.module}.{imp.name}")
    return found


def within(module: str, prefix: str) -> bool:
    """Return True when `module` is `prefix` or lies inside it."""
    return module == prefix or module.startswith(prefix + ".")


def violations(module: str, imp: Import) -> list[str]:
    """Return the docs/design.md §1 rules that `module` breaks by importing `imp`."""
    found: list[str] = []
    loaded = targets(imp)

    def loads(prefix: str) -> bool:
        return any(within(m, prefix) for m in loaded)

    if within(module, "monitor.probes") or within(module, "monitor.providers"):
        for forbidden in (
            "monitor.store",
            "monitor.metrics",
            "monitor.alerting",
            "monitor.site",
            "monitor.server",
            "monitor.scheduler",
            "jinja2",
            "prometheus_client",
            "sqlite3",
            "sqlite_utils",
        ):
            if loads(forbidden):
                found.append(f"a probe imports {forbidden}")
    if within(module, "monitor.simulator"):
        if any(within(m, "monitor") and not within(m, "monitor.simulator") for m in loaded):
            found.append("the simulator imports from the rest of monitor")
    elif loads("monitor.simulator") and module not in ("monitor.cli", "monitor.demo"):
        found.append("only the CLI's simulate and demo commands may import the simulator")
    if not within(module, "monitor.store"):
        for db in ("sqlite3", "sqlite_utils", "apsw", "aiosqlite"):
            if loads(db):
                found.append(f"only monitor/store/ touches SQLite ({db})")
    defines_metrics = imp.name in METRIC_CLASSES or within(imp.module, "prometheus_client.metrics")
    if module != "monitor.metrics" and within(imp.module, "prometheus_client") and defines_metrics:
        found.append(f"only monitor/metrics.py defines metrics ({imp.name or imp.module})")
    if module != "monitor.site.templates" and loads("jinja2"):
        found.append("only monitor/site/templates.py renders templates (jinja2)")
    return found


def source_files() -> list[Path]:
    """Return every Python file of the monitor package."""
    files = sorted(MONITOR.rglob("*.py"))
    assert files, "no source found under monitor/"
    return files


def check(path: Path) -> list[str]:
    """Return the rule violations of the file at `path`, as ``file:line: rule`` lines."""
    module = module_name(path, MONITOR)
    rel = path.relative_to(ROOT)
    return [
        f"{rel}:{imp.line}: {rule}"
        for imp in imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
        for rule in violations(module, imp)
    ]


@pytest.mark.parametrize(
    "path", source_files(), ids=[str(p.relative_to(MONITOR)) for p in source_files()]
)
def test_module_follows_the_import_rules(path: Path) -> None:
    assert check(path) == []


# The checker itself must catch what it is meant to catch.
@pytest.mark.parametrize(
    ("module", "is_package", "source", "rule"),
    [
        ("monitor.probes.x", False, "from monitor.store import Store", "a probe imports"),
        ("monitor.probes.x", False, "from monitor import metrics", "a probe imports"),
        ("monitor.probes.x", False, "from ..alerting import rules", "a probe imports"),
        (
            "monitor.probes.x",
            False,
            "def f():\n    import jinja2\n",
            "a probe imports jinja2",
        ),
        ("monitor.simulator.rest", False, "from monitor.config import Target", "the simulator"),
        ("monitor.simulator.rest", False, "from .. import models", "the simulator"),
        ("monitor.simulator", True, "from ..models import Status", "the simulator"),
        ("monitor.server", False, "from monitor.simulator import start_simulator", "simulate"),
        ("monitor.site.view", False, "import sqlite3", "SQLite"),
        ("monitor.alerting.outbox", False, "from sqlite_utils import Database", "SQLite"),
        ("monitor.server", False, "from prometheus_client import Counter", "defines metrics"),
        ("monitor.alerting", True, "from jinja2 import Template", "renders templates"),
    ],
    ids=[
        "probe-store",
        "probe-metrics-from-package",
        "probe-relative-alerting",
        "probe-lazy-jinja2",
        "simulator-config",
        "simulator-relative-models",
        "simulator-package-relative",
        "server-simulator",
        "site-sqlite3",
        "alerting-sqlite-utils",
        "server-metric-class",
        "alerting-jinja2",
    ],
)
def test_checker_catches_a_violation(module: str, is_package: bool, source: str, rule: str) -> None:
    broken = [r for imp in imports_of(source, module, is_package) for r in violations(module, imp)]
    assert any(rule in r for r in broken), broken


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("monitor.simulator.rest", "from .state import SimState"),
        ("monitor.cli", "from monitor.simulator import run_simulator"),
        ("monitor.demo", "from monitor.simulator import start_simulator"),
        ("monitor.store.api", "import sqlite3\nfrom sqlite_utils import Database"),
        ("monitor.server", "from prometheus_client.aiohttp import make_aiohttp_handler"),
        ("monitor.providers.assemblyai.streaming", "from monitor.models import ProbeTarget"),
    ],
    ids=["simulator-own", "cli-simulate", "demo", "store-sqlite", "server-exposition", "probe"],
)
def test_checker_allows_what_the_design_allows(module: str, source: str) -> None:
    assert [r for imp in imports_of(source, module, False) for r in violations(module, imp)] == []


# ---------------------------------------------------------------------------
# Rule 1: one probe, one registry entry, documented.


PROBE_KINDS = [kind.name for p in providers().values() for kind in p.probes]


def test_the_registry_holds_exactly_the_configurable_probes() -> None:
    assert set(PROBES) == set(PROBE_KINDS) == set(probe_types())


@pytest.mark.parametrize("kind", PROBE_KINDS, ids=PROBE_KINDS)
def test_probe_kind_is_registered_and_documented(kind: str) -> None:
    assert callable(PROBES.get(kind)), f"{kind} is not in monitor.probes.PROBES"
    docs = (ROOT / "docs" / "probes.md").read_text(encoding="utf-8")
    assert f"\n## {kind}\n" in docs, f"docs/probes.md has no '## {kind}' section"
    example = yaml.safe_load((ROOT / "sttwatch.example.yaml").read_text(encoding="utf-8"))
    assert kind in example["targets"][0]["probes"], f"sttwatch.example.yaml does not show {kind}"


def _models(model: type[BaseModel], path: str) -> Iterator[tuple[str, type[BaseModel]]]:
    """Yield (path, model) for `model` and every model nested in its fields."""
    yield path, model
    for name, info in model.model_fields.items():
        args = [info.annotation, *typing.get_args(info.annotation)]
        for arg in [a for x in args for a in (x, *typing.get_args(x))]:
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _models(arg, f"{path}.{name}" if path else name)


def config_keys() -> list[str]:
    """Return the dotted path of every key a user can set in the configuration."""
    keys = {
        f"{path}.{name}" if path else name
        for path, model in _models(Config, "")
        for name in model.model_fields
    }
    # A target's probes are validated against the registry, not a model of fields.
    keys.update(f"targets.probes.{kind}" for kind in PROBE_KINDS)
    keys.update(
        f"targets.probes.{kind}.{name}"
        for kind in PROBE_KINDS
        for name in probe_types()[kind].spec.model_fields
    )
    return sorted(keys)


def documented_at(text: str, key: str) -> int | None:
    """Return the line where the example sets (or shows, commented out) `key`, or None.

    Each part of the dotted key is looked for after the line of the part before
    it and within the same top-level section, so ``maintenance.probes`` is not
    satisfied by ``targets[].probes``.
    """
    lines = text.splitlines()
    start, end = 0, len(lines)
    for depth, part in enumerate(key.split(".")):
        pattern = re.compile(rf"^[ \t]*#?[ \t]*(- )?{re.escape(part)}:")
        found = next((i for i in range(start, end) if pattern.match(lines[i])), None)
        if found is None:
            return None
        if depth == 0:
            # The section ends where the next top-level key begins.
            end = next(
                (i for i in range(found + 1, len(lines)) if re.match(r"^[A-Za-z_]", lines[i])),
                len(lines),
            )
        start = found + 1
    return start


@pytest.mark.parametrize("key", config_keys(), ids=config_keys())
def test_config_key_is_documented_in_the_example(key: str) -> None:
    text = (ROOT / "sttwatch.example.yaml").read_text(encoding="utf-8")
    assert documented_at(text, key) is not None, f"sttwatch.example.yaml does not mention {key}"


@pytest.mark.parametrize(
    ("key", "shown"),
    [("maintenance.probes", False), ("maintenance.targets", True), ("alerts.urls", True)],
    ids=["nested-name-elsewhere", "commented", "set"],
)
def test_documented_at_looks_inside_the_section(key: str, shown: bool) -> None:
    text = (
        "targets:\n  - name: a\n    probes:\n      reachability:\n"
        "alerts:\n  urls: []\nmaintenance: []\n#  - title: x\n#    targets: [a]\n"
    )
    assert (documented_at(text, key) is not None) is shown


# Issue 13 item 3: the store does not know alerting; alerting reaches the store only
# through its AlertStore protocol, and the records both exchange sit between them.
NEUTRAL = ("monitor.outcome", "monitor.alert_records")


def crosses_layers(module: str, imp: Import) -> str | None:
    """Return why `imp` in `module` breaks the store/alerting layering, or None."""
    loaded = targets(imp)
    if within(module, "monitor.store") and any(within(m, "monitor.alerting") for m in loaded):
        return f"the store imports alerting ({imp.module})"
    if module in NEUTRAL and any(
        within(m, side) for m in loaded for side in ("monitor.store", "monitor.alerting")
    ):
        return f"{module} is shared by the store and alerting, so imports neither ({imp.module})"
    return None


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("monitor.store.alerts", "def f():\n    from monitor.alerting.rules import Level\n", True),
        ("monitor.store", "from ..alerting import outbox", True),
        ("monitor.outcome", "from monitor.store.records import to_ms", True),
        ("monitor.store.alerts", "from monitor.alert_records import Level", False),
        ("monitor.alerting.rules", "from monitor.outcome import Streak", False),
    ],
    ids=["store-lazy-alerting", "store-relative-alerting", "neutral-store", "store-neutral", "ok"],
)
def test_layering_checker(module: str, source: str, broken: bool) -> None:
    is_package = module == "monitor.store"
    found = [crosses_layers(module, imp) for imp in imports_of(source, module, is_package)]
    assert any(found) is broken, found


def test_store_imports_nothing_from_alerting() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{imp.line}: {why}"
        for path in source_files()
        for imp in imports_of(
            path.read_text(encoding="utf-8"),
            module_name(path, MONITOR),
            path.name == "__init__.py",
        )
        if (why := crosses_layers(module_name(path, MONITOR), imp)) is not None
    ]
    assert found == []


# ---------------------------------------------------------------------------
# Issue 13: small modules, no cycles between packages, no probe kind named outside its place.

MAX_LINES = 600

# Known offenders, each with the engineer whose branch shrinks it (none left).
LONG_MODULES: dict[str, str] = {}


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_no_module_outside_the_simulator_is_longer_than_600_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): line_count(p)
        for p in source_files()
        if not within(module_name(p, MONITOR), "monitor.simulator") and line_count(p) > MAX_LINES
    }
    assert set(long) <= set(LONG_MODULES), f"longer than {MAX_LINES} lines: {long}"


def unit(module: str) -> str | None:
    """Return the node of the package graph `module` belongs to, or None outside monitor/.

    A subpackage of monitor (monitor.store) is one node; a top-level module
    (monitor.config) is a node of its own.
    """
    parts = module.split(".")
    if parts[0] != "monitor":
        return None
    if len(parts) == 1:
        return "monitor"
    head = MONITOR / parts[1]
    if head.is_dir() or head.with_suffix(".py").is_file():
        return f"monitor.{parts[1]}"
    return None  # a name imported from a module (`from monitor import __version__`)


def package_graph(files: list[tuple[str, str, bool]]) -> dict[str, set[str]]:
    """Return unit -> the units it imports, from (module, source, is_package) triples."""
    graph: dict[str, set[str]] = {}
    for module, source, is_package in files:
        src = unit(module)
        assert src is not None
        for imp in imports_of(source, module, is_package):
            for dst in {unit(m) for m in targets(imp)} - {None, src}:
                assert dst is not None
                graph.setdefault(src, set()).add(dst)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Return the strongly connected components of `graph` with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# store/ and alerting/ import each other until the one outcome machine lands
# (owner: outcome, issue 13 item 3); the lead empties this.
KNOWN_CYCLES: set[frozenset[str]] = set()


def test_no_import_cycle_between_monitor_packages() -> None:
    files = [
        (module_name(p, MONITOR), p.read_text(encoding="utf-8"), p.name == "__init__.py")
        for p in source_files()
    ]
    assert set(cycles(package_graph(files))) <= KNOWN_CYCLES


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = package_graph(
        [
            ("monitor.store.api", "from monitor.alerting import rules", False),
            ("monitor.alerting.rules", "def f():\n    from monitor.store import Store\n", False),
            ("monitor.config", "from monitor.probes import registry", False),
            ("monitor.probes.registry", "from monitor import models", False),
        ]
    )
    assert cycles(graph) == [frozenset({"monitor.store", "monitor.alerting"})]


KIND_NAMES = frozenset(PROBE_KINDS)


def kind_literals(source: str) -> list[tuple[int, str]]:
    """Return (line, kind) for each string literal of `source` that is a probe kind's name."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and node.value in KIND_NAMES
    ]


def kinds_homes() -> list[str]:
    """Return the packages where kinds may be named: each provider's own and its simulator's."""
    homes = [ref.partition(":")[0] for ref in BUILTIN_PROVIDERS]
    return homes + [p.simulator for p in providers().values() if p.simulator]


def test_no_probe_kind_is_named_outside_its_provider() -> None:
    homes = kinds_homes()
    assert "monitor.providers.assemblyai" in homes
    found = {
        f"{p.relative_to(ROOT)}:{line}: {kind!r}"
        for p in source_files()
        if not any(within(module_name(p, MONITOR), home) for home in homes)
        for line, kind in kind_literals(p.read_text(encoding="utf-8"))
    }
    assert found == set()


def test_the_literal_check_sees_a_kind_name() -> None:
    source = 'NAME = "streaming"\n"""a docstring about streaming"""\nx = f"{y}reachability"\n'
    assert kind_literals(source) == [(1, "streaming"), (3, "reachability")]


# ---------------------------------------------------------------------------
# The tests' own shape: fixtures in conftest.py, helpers in tests.support, and no
# test module imported by another file (a shared piece would run, or vanish, with it).

TESTS = ROOT / "tests"


def imported_test_modules(source: str, module: str, is_package: bool = False) -> list[str]:
    """Return the test modules (``test_*``, by package path or bare name) `source` imports."""
    return sorted(
        {
            target
            for imp in imports_of(source, module, is_package)
            for target in targets(imp)
            if (target.startswith("tests.") or "." not in target)
            and target.rpartition(".")[2].startswith("test_")
        }
    )


def test_no_test_module_is_imported_by_another_file() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {', '.join(names)}"
        for path in sorted(TESTS.rglob("*.py"))
        if (
            names := imported_test_modules(
                path.read_text(encoding="utf-8"),
                module_name(path, TESTS),
                path.name == "__init__.py",
            )
        )
    ]
    assert found == [], "move what they share to tests/support/ or a conftest.py:\n" + "\n".join(
        found
    )


def test_the_test_import_check_sees_an_import_of_a_test_module() -> None:
    source = (
        "from test_store import make\n"
        "from tests.store.test_store import T0\n"
        "from ..store import test_store\n"
        "import tests.probes.test_fault_matrix\n"
        "from tests.support.results import make\n"
    )
    assert imported_test_modules(source, "tests.store.test_store_rollups") == [
        "test_store",
        "tests.probes.test_fault_matrix",
        "tests.store.test_store",
    ]
