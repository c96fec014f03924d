"""Secrets: the API key and the alert URLs' passwords and tokens appear nowhere they could leak.

One real ``sttwatch run`` (a subprocess, exactly as deployed) probes the
simulator with a recognisable API key while the simulator misbehaves in every
way that puts remote text in front of sttwatch — and, like a badly written
proxy, echoes the key back: in error bodies, headers, a failed job's error, a
transcript, and WebSocket close reasons. A second target uses a wrong key
(authentication failures). Alerts go through three Apprise URLs that carry
credentials — SMTP with a password (to an SMTP server on loopback that
requires it), a JSON webhook with a password and a token parameter, and a
Slack URL whose path is its tokens (Apprise's Slack plugin pointed at a local
stub). Then every place a secret could end up is read raw and searched.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import os
import re
import signal
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from monitor.redaction import MASK
from monitor.simulator import Scenario, SimulatorHandle, start_simulator
from tests.support import configs
from tests.support.configs import config_doc, sim_target
from tests.support.receivers import Webhook

REPO = Path(__file__).resolve().parents[2]

KEY = "sk-LEAKCANARY-7f3a9c2e5b1d4086"
WRONG_KEY = "sk-LEAKCANARY-WRONG-a1b2c3d4e5f6"
SMTP_PASSWORD = "smtpPW-LEAKCANARY-93jd"
JSON_PASSWORD = "jsonPW-LEAKCANARY-47fk"
JSON_TOKEN = "jsonTOKEN-LEAKCANARY-5511"
SLACK_A, SLACK_B, SLACK_C = "T1LEAKCAN", "B2LEAKCAN", "slackTOKENLEAKCANARY0031"
SECRETS = {
    "api key": KEY,
    "wrong api key": WRONG_KEY,
    "smtp password": SMTP_PASSWORD,
    "json password": JSON_PASSWORD,
    "json token": JSON_TOKEN,
    "slack token a": SLACK_A,
    "slack token b": SLACK_B,
    "slack token c": SLACK_C,
}
# Every fault below puts the key where a careless client would copy it into its output.
ECHO = f"request had Authorization: {KEY}"
FAULTS: list[dict[str, Any]] = [
    {
        "endpoint": "transcript.list",
        "action": "status",
        "status": 500,
        "body": {"error": f"upstream failed; {ECHO}"},
        "headers": {"X-Debug-Authorization": KEY},
        "probability": 0.3,
    },
    {
        "endpoint": "transcript.list",
        "action": "status",
        "status": 429,
        "body": f"slow down, {ECHO}",
        "headers": {"Retry-After": KEY},
        "probability": 0.15,
    },
    {
        "endpoint": "transcript.create",
        "action": "status",
        "status": 401,
        "body": f"<html><body>invalid key {KEY}</body></html>",
        "count": 1,
    },
    {
        "endpoint": "transcript.get",
        "action": "fail_job",
        "error": f"cannot fetch audio; {ECHO}",
        "count": 1,
    },
    {
        "endpoint": "transcript.create",
        "action": "wrong_text",
        "text": f"the key is {KEY}",
        "count": 1,
    },
    {
        "endpoint": "transcript.delete",
        "action": "status",
        "status": 400,
        "body": {"error": f"delete refused; {ECHO}"},
        "count": 2,
    },
    {
        "endpoint": "ws",
        "action": "close",
        "code": 1008,
        "reason": f"Unauthorized {KEY}",
        "count": 1,
    },
    {
        "endpoint": "ws",
        "action": "close",
        "code": 3005,
        "reason": f"Internal {KEY}",
        "error_frame": True,
        "count": 1,
    },
    {
        "endpoint": "ws",
        "action": "refuse",
        "status": 403,
        "body": {"error": ECHO},
        "headers": {"WWW-Authenticate": KEY},
        "count": 1,
    },
]
SITECUSTOMIZE = '''
"""Test hook: Apprise's Slack plugin posts to a local stub instead of hooks.slack.com."""
import os

if os.environ.get("STTWATCH_TEST_SLACK_URL"):
    from apprise.plugins.slack import NotifySlack

    NotifySlack.webhook_url = os.environ["STTWATCH_TEST_SLACK_URL"]
'''


# ---------------------------------------------------------------------------
# An SMTP server that insists on the password (so Apprise really sends it)


@dataclass
class AuthSmtp:
    """aiosmtpd on loopback requiring AUTH with the configured password; keeps raw messages."""

    raw: list[bytes] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password.decode() == SMTP_PASSWORD
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        self.raw.append(raw)
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(
                self,
                hostname="sink.test",
                authenticator=self.authenticate,
                auth_required=True,
                auth_require_tls=False,
            ),
            "127.0.0.1",
            0,
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def texts(self) -> list[str]:
        """Return each message decoded (headers and every part), as a reader would see it."""
        out = []
        for raw in self.raw:
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            parts = [str(msg)]
            for part in msg.walk():
                if not part.is_multipart():
                    parts.append(str(part.get_content()))
            out.append("\n".join(parts))
        return out


# ---------------------------------------------------------------------------
# The run


@dataclass
class Evidence:
    """Everything the run left behind, by place."""

    places: dict[str, bytes] = field(default_factory=dict)
    faults_applied: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)
    stored_messages: list[str] = field(default_factory=list)
    db_files_while_running: list[str] = field(default_factory=list)
    returncode: int | None = None

    def add(self, place: str, data: bytes | str) -> None:
        blob = data.encode() if isinstance(data, str) else data
        self.places[place] = self.places.get(place, b"") + blob + b"\n"


def write_config(tmp: Path, sim: SimulatorHandle, smtp: AuthSmtp, hook: Webhook) -> Path:
    mailto = (
        f"mailto://sttwatch:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}"
        f"?from={quote('sttwatch@example.com')}&to={quote('oncall@example.com')}"
    )
    urls = [
        mailto,
        f"json://hookuser:{JSON_PASSWORD}@127.0.0.1:{hook.port}/hook?-token={JSON_TOKEN}",
        f"slack://{SLACK_A}/{SLACK_B}/{SLACK_C}/#alerts",
    ]
    fast = {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"}
    canary = sim_target(
        sim,
        key="${STTWATCH_TEST_KEY}",
        display_name="Canary",
        probes={
            "reachability": fast,
            "transcription": {
                "interval": "2s",
                "timeout": "1500ms",
                "degraded_after": "1s",
                "poll_interval": "50ms",
                "poll_max_interval": "100ms",
            },
            "streaming": {"interval": "4s", "timeout": "3500ms", "degraded_after": "3s"},
        },
    )
    wrong_key = sim_target(sim, "wrongkey", key=WRONG_KEY, probes={"reachability": fast})
    doc = config_doc(
        tmp,
        [canary, wrong_key],
        database="data/sttwatch.db",
        alerts={"urls": urls, "failure_threshold": 1, "success_threshold": 1},
        title="Secrets test",
        public_url="http://status.example.test/",
    )
    return configs.write_config(tmp, doc)


def child_env(tmp: Path, slack: Webhook) -> dict[str, str]:
    hook_dir = tmp / "hooks"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(hook_dir), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["STTWATCH_TEST_KEY"] = KEY
    env["STTWATCH_TEST_SLACK_URL"] = f"http://127.0.0.1:{slack.port}/services"
    return env


async def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


def read_tree(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


async def scenario(tmp: Path) -> Evidence:
    ev = Evidence()
    sim = await start_simulator(
        port=0,
        scenario=Scenario.model_validate(
            {
                "seed": 5,
                "api_keys": [KEY],
                "jobs": {"queued_ms": 50, "processing_ms": 50},
                "streaming": {"strict_pacing": False, "error_frames": True},
            }
        ),
    )
    smtp, hook, slack = AuthSmtp(), Webhook(), Webhook(reply="ok")
    for server in (smtp, hook, slack):
        await server.start()
    try:
        sim.set_faults(FAULTS)
        config = write_config(tmp, sim, smtp, hook)
        env = child_env(tmp, slack)

        code, out = await cli(env, "check-config", "-c", str(config))
        assert code == 0, out
        ev.add("check-config output", out)

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "-c",
            str(config),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        logs: list[bytes] = []
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def collect(stream: asyncio.StreamReader) -> None:
            async for line in stream:
                logs.append(line)
                m = re.search(rb"serving on http://127\.0\.0\.1:(\d+)/", line)
                if m and not port.done():
                    port.set_result(int(m.group(1)))

        assert proc.stdout is not None and proc.stderr is not None
        readers = [asyncio.create_task(collect(s)) for s in (proc.stdout, proc.stderr)]
        try:
            base = f"http://127.0.0.1:{await asyncio.wait_for(port, 30)}"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            # Until every echoing fault has fired and alerts went out through all three URLs.
            while loop.time() < deadline:
                applied = sim.state()["faults_applied"]
                if (
                    sum(applied.values()) >= 10
                    and applied.get("fail_job")
                    and applied.get("wrong_text")
                    and applied.get("refuse")
                    and applied.get("close", 0) >= 2
                    and smtp.raw
                    and hook.posts
                    and slack.posts
                ):
                    break
                await asyncio.sleep(0.2)
            async with aiohttp.ClientSession() as http:
                for path in ("/metrics", "/healthz", "/api/v1/results?limit=1000", "/"):
                    async with http.get(base + path) as resp:
                        ev.add(f"GET {path.split('?')[0]}", await resp.read())
            data = tmp / "data"
            ev.add("database files while running", read_tree(data))
            ev.db_files_while_running = sorted(p.name for p in data.iterdir())
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            try:
                ev.returncode = await asyncio.wait_for(proc.wait(), 30)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
                await asyncio.gather(*readers, return_exceptions=True)
        ev.add("sttwatch run logs", b"".join(logs))
        ev.add("database files after stop", read_tree(tmp / "data"))
        ev.add("site directory", read_tree(tmp / "site"))

        code, out = await cli(env, "once", "--json", "-c", str(config))
        ev.add("sttwatch once --json output", out)
        code, out = await cli(env, "test-alert", "-c", str(config))
        ev.add("sttwatch test-alert output", out)

        ev.add("alerts at the SMTP server", "\n".join(smtp.texts()).encode() + b"".join(smtp.raw))
        # The messages only: the Slack URL's path *is* its tokens, as it must be on the wire.
        for place, got in (("JSON webhook", hook), ("Slack stub", slack)):
            payloads = [p for _, p in got.posts]
            ev.add(f"alerts at the {place}", json.dumps(payloads, ensure_ascii=False))
        ev.faults_applied = dict(sim.state()["faults_applied"])
        ev.alerts = {"smtp": len(smtp.raw), "json": len(hook.posts), "slack": len(slack.posts)}
        ev.stored_messages = _stored_messages(tmp / "data" / "sttwatch.db")
        ev.alerts["smtp logins"] = len(smtp.logins)
    finally:
        for server in (smtp, hook, slack):
            await server.stop()
        await sim.close()
    return ev


def _stored_messages(db: Path) -> list[str]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [str(r[0]) for r in conn.execute("SELECT message FROM results")]


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evidence]:
    """Run the whole scenario once for every place checked below."""
    tmp = tmp_path_factory.mktemp("secrets")
    with warnings.catch_warnings():
        # aiosmtpd's advice for real servers; this one only ever listens on loopback.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
        yield asyncio.run(scenario(tmp))


def leaks(blob: bytes) -> list[str]:
    """Return the names of the secrets found in `blob`, raw or percent-encoded."""
    found = []
    for name, secret in SECRETS.items():
        forms = {secret.encode(), quote(secret, safe="").encode()}
        if any(f in blob for f in forms):
            found.append(name)
    return found


PLACES = [
    "database files while running",
    "database files after stop",
    "site directory",
    "sttwatch run logs",
    "GET /metrics",
    "GET /healthz",
    "GET /api/v1/results",
    "GET /",
    "check-config output",
    "sttwatch once --json output",
    "sttwatch test-alert output",
    "alerts at the SMTP server",
    "alerts at the JSON webhook",
    "alerts at the Slack stub",
]


def test_the_run_put_the_secrets_in_harms_way(evidence: Evidence) -> None:
    """The scan below means something: the echoing faults fired, results with remote error
    text were stored, alerts went out through every credentialed URL (SMTP logged in with the
    password), and sttwatch shut down cleanly."""
    applied = evidence.faults_applied
    assert sum(applied.values()) >= 10, applied
    for action in ("status", "fail_job", "wrong_text", "close", "refuse"):
        assert applied.get(action), (action, applied)
    assert evidence.alerts["smtp"] and evidence.alerts["json"] and evidence.alerts["slack"]
    assert evidence.alerts["smtp logins"] >= 1
    # The echoed key reached sttwatch and was masked before it was stored.
    assert any(MASK in m for m in evidence.stored_messages), evidence.stored_messages
    assert evidence.returncode == 0
    assert set(PLACES) <= set(evidence.places)
    assert "sttwatch.db-wal" in evidence.db_files_while_running  # the WAL was read too
    found = {place: leaks(evidence.places[place]) for place in PLACES}
    print(
        f"FIGURES secrets: {len(SECRETS)} secrets planted; faults fired {applied} "
        f"({sum(applied.values())} in all); {len(evidence.stored_messages)} results stored; "
        f"alerts delivered {evidence.alerts}; {len(PLACES)} places scanned "
        f"({sum(len(evidence.places[p]) for p in PLACES) / 1e6:.1f} MB); "
        f"leaks found: {sum(map(len, found.values()))}"
    )


@pytest.mark.parametrize("place", PLACES, ids=[p.replace(" ", "-") for p in PLACES])
def test_no_secret_in(evidence: Evidence, place: str) -> None:
    """Promise 5: after a run with auth failures, 5xx/429s, failed jobs, wrong transcripts and
    streaming closes — with the API key echoed back by the server in bodies, headers, job errors,
    transcripts and close reasons — neither the API key nor any password or token of the alert
    URLs appears in the database (raw bytes, WAL included), the site directory, the logs, the
    metrics, the HTTP API, `check-config`, `once` or `test-alert` output, or the alerts as
    delivered."""
    blob = evidence.places[place]
    assert blob.strip(), f"nothing was collected from {place}"
    assert leaks(blob) == [], f"secrets in {place}"
