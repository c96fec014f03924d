"""Promise 6 of issue 8: text from a remote server is shown as text, never run, everywhere.

A real ``sttwatch run`` server (scheduler, store, renderer, alerter) probes
six targets, each a hostile API that puts HTML/JS payloads into one field it
controls:

| target | field | how |
| --- | --- | --- |
| ``retry`` | ``Retry-After`` header of a 429 | simulator ``status`` fault |
| ``apierr`` | API ``error`` string of a 400 | simulator ``status`` fault with a JSON body |
| ``jobfail`` | a failed job's ``error`` | simulator ``fail_job`` |
| ``text`` | transcript text | simulator ``wrong_text`` |
| ``close`` | close reason and ``Error`` frame | simulator ``close`` with ``error_frame`` |
| ``ident`` | the transcript id itself | a raw hostile API (tests/support/hostile.py) |

(The transcript id is the one field the probe refuses outright rather than
shows: it goes into URLs and the deletion ledger, so an id that is not
letters, digits, ``-`` and ``_`` is a ``bad_response`` and is echoed nowhere.)

The payloads: ``<script>``, ``<img onerror>``, an attribute break-out into
``<svg onload>``, ``javascript:`` links, ``]]>`` and ``</title>`` (Atom and
the page's title), an image on a foreign origin, and bidi controls (U+202E,
U+202C) that would let text display reversed.

Then a real Chromium (the Debian package, never a downloaded one) opens the
status page with its incidents, the Atom feed and the JSON documents, with
CSP **bypassed** (``bypass_csp``), so escaping alone must hold: no dialog,
no request leaves the origin, no element or handler is injected, and the
payload is visible as literal text. Last, the alert messages for these
results are rendered by the alerting formatter and converted the way Apprise
delivers them (Markdown → HTML for HTML services and e-mail; the Markdown as
it is for text services): no tag, link or attribute comes out of the HTML,
whose text reads the payload literally, and every ``<`` sent as text is escaped.
The messages are also delivered for real, to a Slack stub and a JSON webhook
on loopback, with a Slack mention and link in an error string: Slack gets
every ``<`` as ``&lt;`` (no mention, no link), the webhook escaped Markdown.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from apprise import NotifyFormat
from apprise.conversion import convert_between

from monitor.alerting.delivery import deliver, load_destinations
from monitor.alerting.messages import render
from monitor.alerting.rules import AlertKind, AlertRules, AlertState, backlog_step, step
from monitor.app import serve
from monitor.config import Config, parse_config
from monitor.models import LedgerEntry, ProbeResult
from monitor.server import bound_port
from monitor.simulator import Scenario, SimulatorHandle, start_simulator
from tests.support.chromium import ARGS, CHROMIUM, requires_chromium
from tests.support.hostile import RawServer, body_answer, transcription_api
from tests.support.receivers import SLACK_TOKENS, Webhook

playwright_api = pytest.importorskip("playwright.async_api")

pytestmark = [
    pytest.mark.slow,
    requires_chromium,
]

BIDI = "\u202eevil\u202c"
FULL = (
    '<script>alert(1)</script><img src=x onerror=alert(2)>"><svg onload=alert(3)>'
    ' <a href="javascript:alert(4)">j</a> ]]></title><img src=http://evil.invalid/p.png> ' + BIDI
)
SHORT = (
    '<script>alert(1)</script><img src=x onerror=alert(2)>"><svg onload=alert(3)> ]]></title> '
    + BIDI
)
HEADER = "<script>alert(1)</script><img src=x onerror=alert(2)>"  # ASCII, as headers are
HOSTILE_ID = "<img src=x onerror=alert(6)>" + BIDI
SLACK_PAYLOAD = "failed: <!channel> <http://evil.invalid|click here> <@U0123> " + FULL[:60]

# What must read literally wherever a field is shown.
FRAGMENTS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    '"><svg onload=alert(3)>',
    '<a href="javascript:alert(4)">j</a>',
    "]]></title>",
    "<img src=http://evil.invalid/p.png>",
)
SHORT_FRAGMENTS = (*FRAGMENTS[:3], "]]></title>")
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def shown(text: str) -> str:
    """Return remote `text` as the product must show it: bidi controls gone, spaces collapsed."""
    return " ".join("".join(" " if c in BIDI_CONTROLS else c for c in text).split())


@dataclass
class Hostile:
    """The running sttwatch, its config, and where it serves."""

    url: str
    config: Config
    session: aiohttp.ClientSession

    async def json(self, path: str) -> Any:
        async with self.session.get(f"{self.url}{path}") as resp:
            assert resp.status == 200, path
            return await resp.json()


def _fast(**extra: Any) -> dict[str, Any]:
    return {"interval": "2s", "degraded_after": "1s", "timeout": "1500ms", **extra}


async def wait_for(check: Callable[[], Awaitable[bool]], what: str, within: float = 40) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def hostile(tmp_path: Path) -> AsyncIterator[Hostile]:
    faults: dict[str, list[dict[str, Any]]] = {
        "retry": [
            {
                "endpoint": "transcript.list",
                "action": "status",
                "status": 429,
                "headers": {"Retry-After": HEADER},
            }
        ],
        "apierr": [
            {
                "endpoint": "transcript.create",
                "action": "status",
                "status": 400,
                "body": json.dumps({"error": FULL}),
            }
        ],
        "jobfail": [{"endpoint": "transcript.get", "action": "fail_job", "error": FULL}],
        "text": [{"endpoint": "transcript.get", "action": "wrong_text", "text": FULL}],
        "close": [
            {
                "endpoint": "ws",
                "action": "close",
                "code": 4000,
                "reason": SHORT,
                "error_frame": True,
            }
        ],
    }
    probe_of = {
        "retry": "reachability",
        "apierr": "transcription",
        "jobfail": "transcription",
        "text": "transcription",
        "close": "streaming",
    }
    sims: list[SimulatorHandle] = []
    ident = RawServer(
        transcription_api(
            body_answer(json.dumps({"id": HOSTILE_ID, "status": "error", "error": FULL}).encode()),
            job_id=HOSTILE_ID,
        )
    )
    stop = asyncio.Event()
    task: asyncio.Task[None] | None = None
    try:
        targets = []
        for name, fault_list in faults.items():
            scenario = Scenario.model_validate(
                {"jobs": {"queued_ms": 50, "processing_ms": 100}, "faults": fault_list}
            )
            sim = await start_simulator(port=0, scenario=scenario)
            sims.append(sim)
            targets.append(
                {
                    "name": name,
                    "api_base": sim.base_url,
                    "streaming_base": sim.ws_base,
                    "api_key": "sim-key",
                    "probes": {probe_of[name]: _fast()},
                }
            )
        await ident.start()
        targets.append(
            {
                "name": "ident",
                "api_base": ident.http,
                "api_key": "sim-key",
                "probes": {"transcription": _fast(poll_interval="100ms")},
            }
        )
        config = parse_config(
            {
                "title": "Hostile content",
                "database": str(tmp_path / "sttwatch.db"),
                "site_dir": str(tmp_path / "site"),
                "listen": "127.0.0.1:0",
                "targets": targets,
            },
            env={},
        )
        started: asyncio.Future[web.AppRunner] = asyncio.get_running_loop().create_future()

        async def on_started(runner: web.AppRunner) -> None:
            started.set_result(runner)

        task = asyncio.create_task(
            serve(config, stop, on_started=on_started, render_min_interval=0.1)
        )
        runner = await asyncio.wait_for(asyncio.shield(started), 20)
        async with aiohttp.ClientSession() as session:
            yield Hostile(f"http://127.0.0.1:{bound_port(runner)}", config, session)
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await ident.close()
        for sim in sims:
            await sim.close()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            await b.close()


class Visit:
    """One page load with CSP bypassed: every request, dialog and script error it caused."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self._dismissals: list[asyncio.Future[Any]] = []

    async def open(self, browser: Any, url: str) -> Any:
        ctx = await browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 1600})

        async def only_origin(route: Any) -> None:
            if route.request.url.startswith(self.origin):
                await route.continue_()
            else:
                await route.abort()

        await ctx.route("**/*", only_origin)
        page = await ctx.new_page()
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        await page.goto(url)
        await page.wait_for_timeout(300)  # an onerror/onload handler would have run by now
        return ctx, page

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        # A dialog left open would block the page; dismiss it, and keep the task.
        self._dismissals.append(asyncio.ensure_future(dialog.dismiss()))

    def assert_inert(self) -> None:
        assert self.dialogs == [], self.dialogs
        assert self.errors == [], self.errors
        foreign = [r for r in self.requests if not r.startswith(self.origin)]
        assert foreign == [], foreign


INJECTED = """() => {
  const found = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (a.name.startsWith('on')) found.push(el.tagName + '[' + a.name + ']');
      if (/^\\s*javascript:/i.test(a.value)) found.push(el.tagName + '[' + a.name + ']=js');
    }
    if (['SCRIPT', 'IMG', 'IFRAME', 'OBJECT', 'EMBED', 'A'].includes(el.tagName)
        && !(el.tagName === 'A' && el.getAttribute('href') && !el.getAttribute('href').includes(':')
             && !el.getAttribute('href').startsWith('//'))) {
      found.push(el.tagName);
    }
  }
  return found;
}"""


async def _settled(h: Hostile) -> dict[str, dict[str, Any]]:
    """Wait until every target has an open incident and its payload on the page's JSON."""

    async def ready() -> bool:
        summary = await h.json("/api/v2/summary.json")
        figures = await h.json("/api/sttwatch.json")
        messages = {g["name"]: g["components"][0]["message"] for g in figures["targets"]}
        return len(summary["incidents"]) == 6 and all(
            ("<script>" in m or "WER" in m or "transcript id" in m) for m in messages.values()
        )

    await wait_for(ready, "an incident with its payload on every target")
    figures = await h.json("/api/sttwatch.json")
    return {g["name"]: g["components"][0] for g in figures["targets"]}


async def test_remote_payloads_render_as_text_in_page_feed_and_json(
    hostile: Hostile, browser: Any
) -> None:
    """Every remote-controlled field reads as literal text in page, feed and JSON; nothing runs."""
    components = await _settled(hostile)
    # What each field became on the way in (the probe keeps remote text as data).
    assert components["jobfail"]["message"] == f"The transcription job failed: {shown(FULL)}"
    assert components["apierr"]["message"].endswith(f"submitting the job: {shown(FULL)}")
    assert HEADER in components["retry"]["message"]
    assert components["close"]["message"].endswith(shown(SHORT))
    assert components["ident"]["error_kind"] == "bad_response"
    assert "transcript id" in components["ident"]["message"]

    # The status page, with its ongoing incidents, CSP bypassed.
    visit = Visit(hostile.url)
    ctx, page = await visit.open(browser, f"{hostile.url}/")
    visit.assert_inert()
    assert await page.evaluate(INJECTED) == []
    for name in ("jobfail", "apierr", "close"):
        text = await page.locator(f"#component-{name}-{_probe(name)} .message").inner_text()
        for fragment in FRAGMENTS if name != "close" else SHORT_FRAGMENTS:
            assert fragment in text, (name, fragment, text)
    retry = await page.locator("#component-retry-reachability .message").inner_text()
    assert HEADER in retry
    incidents = await page.locator("#open-h + .incidents .message").all_inner_texts()
    assert len(incidents) == 6
    assert sum(FRAGMENTS[0] in t for t in incidents) == 4  # jobfail, apierr, close, retry
    body = await page.evaluate("document.body.innerText")
    assert not set(body) & BIDI_CONTROLS
    assert "alert(6)" not in body  # the hostile transcript id
    title = await page.title()
    assert title.endswith("· Hostile content")
    await ctx.close()

    # The Atom feed: well-formed, one entry per incident, the payload as entry text.
    async with hostile.session.get(f"{hostile.url}/feed.atom") as resp:
        feed = ET.fromstring(await resp.read())
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert len(entries) == 6
    for entry in entries:
        assert [child.tag.removeprefix(atom) for child in entry] == [
            "id",
            "title",
            "updated",
            "published",
            "link",
            "content",
        ]
        assert not set(entry.findtext(f"{atom}content") or "") & BIDI_CONTROLS
    contents = [e.findtext(f"{atom}content") or "" for e in entries]
    failed_job = f"Last error: transcription_failed: The transcription job failed: {shown(FULL)}"
    assert sum(failed_job in c for c in contents) == 1
    assert not any("alert(6)" in c for c in contents)
    visit = Visit(hostile.url)
    ctx, page = await visit.open(browser, f"{hostile.url}/feed.atom")
    visit.assert_inert()
    assert await page.evaluate(INJECTED) == []
    await ctx.close()

    # The JSON documents, opened as a reader would: shown as text, parsed back intact.
    for path in (
        "/api/v2/summary.json",
        "/api/v2/incidents.json",
        "/api/sttwatch.json",
        "/api/v1/results?limit=200",
    ):
        visit = Visit(hostile.url)
        ctx, page = await visit.open(browser, f"{hostile.url}{path}")
        visit.assert_inert()
        assert await page.evaluate(INJECTED) == [], path
        strings = _strings(json.loads(await page.evaluate("document.body.innerText")))
        assert any(shown(FULL) in s for s in strings), path
        assert not set("".join(strings)) & BIDI_CONTROLS, path
        assert not any("alert(6)" in s for s in strings), path
        await ctx.close()

    # The raw results keep the transcript text and close details as data, cleaned.
    results = (await hostile.json("/api/v1/results?limit=200"))["results"]
    by_target = {r["target"]: r for r in results if r["status"] == "down"}
    assert by_target["text"]["details"]["text"] == shown(FULL)
    assert by_target["close"]["details"]["close_reason"] == shown(SHORT)
    assert by_target["close"]["details"]["close_code"] == 4000
    assert by_target["close"]["details"]["error"] == shown(SHORT)  # the Error frame's text
    assert by_target["retry"]["details"]["retry_after"] == HEADER


def _strings(doc: Any) -> list[str]:
    """Return every string in a parsed JSON document."""
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in (k, *_strings(v))]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return []


def _probe(name: str) -> str:
    return {"retry": "reachability", "close": "streaming"}.get(name, "transcription")


class _Tags(HTMLParser):
    """Collects the tags and attributes of an HTML fragment, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _assert_plain(body: str, fragments: tuple[str, ...]) -> None:
    """Assert an alert body delivers `fragments` literally and no markup, in HTML and text."""
    assert not set(body) & BIDI_CONTROLS
    html: str = convert_between(NotifyFormat.MARKDOWN, NotifyFormat.HTML, body)  # type: ignore[no-untyped-call]
    parsed = _Tags()
    parsed.feed(html)
    assert parsed.tags <= {"p", "strong", "em", "ul", "li", "br", "code"}, parsed.tags
    assert parsed.attrs == [], parsed.attrs
    text = "".join(parsed.text)
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    # A text-only service gets the Markdown as it is: every "<" arrives escaped, inert.
    plain: str = convert_between(NotifyFormat.MARKDOWN, NotifyFormat.TEXT, body)  # type: ignore[no-untyped-call]
    assert "<" not in plain.replace("\\<", ""), plain


async def test_remote_payloads_are_plain_text_in_alerts(
    hostile: Hostile, slack_stub: Webhook, webhook: Webhook
) -> None:
    """Alert messages for these results carry the payloads as plain text: no tag, link, handler."""
    await _settled(hostile)
    rows = (await hostile.json("/api/v1/results?limit=200"))["results"]
    latest: dict[str, ProbeResult] = {}
    for row in rows:  # newest first
        row.pop("id")
        result = ProbeResult.from_json(row)
        if result.error_kind is not None:
            latest.setdefault(result.target, result)
    assert set(latest) == {"retry", "apierr", "jobfail", "text", "close", "ident"}
    # Slack's own markup in an error string: a mention and a link.
    latest["slack"] = replace(latest["jobfail"], target="slack", message=SLACK_PAYLOAD)
    destinations, problems = load_destinations(
        parse_config(
            {
                "targets": [{"name": "x", "api_key": "k"}],
                "alerts": {"urls": [f"slack://{SLACK_TOKENS}/#oncall", webhook.url()]},
            },
            env={},
        ).alerts
    )
    assert problems == []
    rules = AlertRules()
    for target, result in latest.items():
        state = AlertState(target, result.probe)
        events = []
        for i in range(rules.failure_threshold):
            later = result.started_at + timedelta(seconds=i)
            state, new = step(state, _at(result, later), later, rules)
            events += new
        (down,) = events
        assert down.kind is AlertKind.DOWN
        message = render(down, hostile.config)
        assert "<" not in message.title and BIDI not in message.title
        fragments = {
            "retry": (HEADER,),
            "close": SHORT_FRAGMENTS,
            "text": (),
            "ident": (),
            "slack": ("<!channel>", "<http://evil.invalid|click here>"),
        }.get(target, FRAGMENTS)
        _assert_plain(message.body, fragments)
        for destination in destinations:
            outcome = await deliver(destination, message)
            assert outcome.ok, outcome.error

    # As delivered: Slack gets every "<" as &lt; (no mention, no link), the JSON
    # webhook the escaped Markdown.
    assert len(slack_stub.posts) == len(webhook.posts) == len(latest)
    for _, payload in slack_stub.posts:
        slack_text = payload["attachments"][0]["text"]
        assert "<" not in slack_text and ">" not in slack_text.replace("&gt;", ""), slack_text
    for _, payload in webhook.posts:
        assert "<" not in payload["message"].replace("\\<", ""), payload["message"]

    # The deletion backlog alert lists ledger ids; one from before ids were checked
    # (or a ledger written by hand) is still shown inert.
    created = datetime.now(UTC) - timedelta(hours=3)
    entry = LedgerEntry("ident", HOSTILE_ID, created, 3, f"Deletion not confirmed: {FULL}")
    state, events = backlog_step(AlertState("ident", "deletion"), [entry], datetime.now(UTC), rules)
    (backlog,) = events
    message = render(backlog, hostile.config)
    _assert_plain(message.body, ("<img src=x onerror=alert(6)>",))


def _at(result: ProbeResult, when: datetime) -> ProbeResult:
    data = result.to_json()
    data["started_at"] = when.isoformat()
    return ProbeResult.from_json(data)
