"""deploy/compose.yaml (two agents on one PostgreSQL, Prometheus, Grafana), checked statically.

No Docker engine here: what is checked is that the services, their environment,
volumes and health checks agree with each other, with the agents' config (read
by sttwatch's own loader), with the Dockerfile and with the takeover bound
docs/agents.md states.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from monitor.config import load_config
from monitor.leadership import ALIVE_TIMEOUT, CHECK_EVERY
from monitor.locations import LOCATION_ENV

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
AGENTS = ("agent-eu", "agent-us")
CONFIG_IN_IMAGE = "/etc/sttwatch/sttwatch.yaml"
DATA_IN_IMAGE = "/var/lib/sttwatch"  # the Dockerfile's VOLUME and WORKDIR
SITE_IN_IMAGE = "/var/lib/sttwatch/public"  # made in the image, owned by its user


def compose() -> dict[str, Any]:
    """Return the parsed compose file (YAML merge keys resolved)."""
    doc = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


def volumes(service: str) -> dict[str, str]:
    """Return `service`'s mounts as {container path: source} (a path or a named volume)."""
    out: dict[str, str] = {}
    for spec in services()[service].get("volumes", []):
        source, target = spec.split(":")[:2]
        out[target] = source
    return out


def agent_env(service: str) -> dict[str, str]:
    env: dict[str, str] = services()[service]["environment"]
    return {k: str(v) for k, v in env.items()}


def default_of(value: str) -> str:
    """Return the default of a compose ``${VAR:-default}`` (or the value itself)."""
    if value.startswith("${") and ":-" in value:
        return value.split(":-", 1)[1].rstrip("}")
    return value


def agent_config(service: str) -> Any:
    """Return the config `service` runs, loaded with the environment compose gives it."""
    source = volumes(service)[CONFIG_IN_IMAGE]
    env = {k: default_of(v) for k, v in agent_env(service).items()}
    return load_config(DEPLOY / source, env=env)


def test_the_services_are_postgres_two_agents_a_simulator_prometheus_and_grafana() -> None:
    found = services()
    assert set(found) == {"postgres", "simulator", *AGENTS, "prometheus", "grafana"}
    declared = set(compose().get("volumes") or {})
    for name, svc in found.items():
        if "build" in svc:
            assert (DEPLOY / svc["build"] / "Dockerfile").is_file(), name
        else:
            repo, _, tag = svc["image"].rpartition(":")
            assert repo and tag not in ("", "latest"), f"{name}: pin the image tag"
        for dep in svc.get("depends_on", []):
            assert dep in found, f"{name} depends on unknown service {dep}"
        for source in volumes(name).values():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    hosts = [p.split(":")[0] for svc in found.values() for p in svc.get("ports", [])]
    assert len(hosts) == len(set(hosts)), "two services publish the same host port"


def test_each_agent_has_its_own_location_and_volume_and_waits_for_a_healthy_database() -> None:
    locations = [agent_env(a)[LOCATION_ENV] for a in AGENTS]
    assert len(set(locations)) == len(AGENTS), locations
    data = [volumes(a)[DATA_IN_IMAGE] for a in AGENTS]
    assert len(set(data)) == len(AGENTS), "each agent keeps its buffer and site on its own volume"
    for agent in AGENTS:
        svc = services()[agent]
        assert svc["command"] == ["run", "-c", CONFIG_IN_IMAGE]
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert svc["depends_on"]["simulator"]["condition"] == "service_healthy"
        # The image's HEALTHCHECK (/healthz on 8080) is the agents': none overrides it.
        assert "healthcheck" not in svc
        assert any(p.endswith(":8080") for p in svc["ports"])


def test_the_agents_config_is_the_shared_database_and_files_on_the_agents_volume() -> None:
    postgres = services()["postgres"]
    pg_env = {k: str(v) for k, v in postgres["environment"].items()}
    assert "pg_isready" in postgres["healthcheck"]["test"]
    for agent in AGENTS:
        cfg = agent_config(agent)
        url = urlsplit(cfg.database)
        assert url.scheme == "postgresql"
        assert (url.hostname, url.port) == ("postgres", 5432)
        assert url.username == pg_env["POSTGRES_USER"]
        assert url.path == f"/{pg_env['POSTGRES_DB']}"
        assert url.password == default_of(pg_env["POSTGRES_PASSWORD"])
        assert cfg.buffer.startswith(DATA_IN_IMAGE + "/"), cfg.buffer
        # The page is written beside site_dir and swapped in: inside the shared volume,
        # never its mount point itself.
        shared = [t for t, s in volumes(agent).items() if s == "site"]
        assert shared == [SITE_IN_IMAGE], volumes(agent)
        assert Path(cfg.site_dir).parent == Path(SITE_IN_IMAGE), cfg.site_dir
        assert (cfg.listen_host, cfg.listen_port) == ("0.0.0.0", 8080)
        sim = services()["simulator"]["command"]
        port = sim[sim.index("--listen") + 1].rpartition(":")[2]
        for target in cfg.targets:
            assert target.api_base == f"http://simulator:{port}"


def test_the_shared_site_volume_is_mounted_where_the_image_made_its_directory() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    # A new named volume takes the owner of the image's directory: the user's, writable.
    assert f"install -d -o sttwatch -g sttwatch -m 0750 {DATA_IN_IMAGE} {SITE_IN_IMAGE}" in (
        dockerfile
    )


def test_the_server_drops_a_vanished_leader_after_the_agents_stop_trusting_it() -> None:
    command = services()["postgres"]["command"]
    settings = dict(arg.split("=", 1) for prev, arg in itertools.pairwise(command) if prev == "-c")
    idle, interval, count = (
        int(settings[k])
        for k in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
    )
    drop_after = idle + interval * count
    assert drop_after == 25  # docs/agents.md states this bound
    assert "10 + 5 × 3 = 25 s" in (ROOT / "docs" / "agents.md").read_text(encoding="utf-8")
    # Two leaders never overlap: an agent that lost its session stops leading first.
    assert drop_after > CHECK_EVERY + ALIVE_TIMEOUT


def test_prometheus_scrapes_every_agent_and_its_config_checks(tmp_path: Path) -> None:
    mounted = volumes("prometheus")
    config_source = mounted["/etc/prometheus/prometheus.yml"]
    prom = yaml.safe_load((DEPLOY / config_source).read_text(encoding="utf-8"))
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "sttwatch"]
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{a}:8080" for a in AGENTS}
    rules = DEPLOY / mounted["/etc/prometheus/rules"]
    assert prom["rule_files"] == ["rules/sttwatch.yml"] and (rules / "sttwatch.yml").is_file()
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed")
    shutil.copy(DEPLOY / config_source, tmp_path / "prometheus.yml")
    shutil.copytree(rules, tmp_path / "rules")
    done = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_grafana_provisioning_is_the_repository_s() -> None:
    mounted = volumes("grafana")
    assert (DEPLOY / mounted["/etc/grafana/provisioning"]).resolve() == ROOT / "grafana" / (
        "provisioning"
    )
    dashboards = DEPLOY / mounted["/etc/grafana/dashboards/sttwatch"]
    home = services()["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dashboards / Path(home).name).is_file()


def test_docker_compose_validates_the_file() -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose not installed")
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
