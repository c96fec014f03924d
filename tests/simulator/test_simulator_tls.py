"""``sttwatch simulate --tls``: HTTPS and WSS on one port, and the SDK's token flow over it."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import assemblyai as aai
import pytest
from assemblyai.streaming.v3 import (
    BeginEvent,
    StreamingClient,
    StreamingClientOptions,
    StreamingError,
    StreamingEvents,
    StreamingParameters,
    TerminationEvent,
    TurnEvent,
)

from monitor.simulator import DEFAULT_API_KEY, Scenario, start_simulator, start_simulator_thread
from monitor.simulator.tls import TLSError, make_self_signed, server_context
from tests.support.simulate_process import command, simulate
from tests.support.simulator import CLIP_TEXT, assert_stream_message, clip_pcm, frames

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:assemblyai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
    pytest.mark.filterwarnings("ignore:.*parse_obj.*:DeprecationWarning"),
]


def _client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_https_and_wss_share_the_port(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    handle = await start_simulator(tls=server_context(cert, key))
    try:
        assert handle.base_url.startswith("https://") and handle.ws_base.startswith("wss://")
        trust = _client_context(cert)
        headers = {"Authorization": DEFAULT_API_KEY}
        async with aiohttp.ClientSession() as http:
            async with http.get(
                f"{handle.base_url}/v2/transcript", headers=headers, ssl=trust
            ) as reply:
                assert reply.status == 200
                body = await reply.json()
            # Absolute URLs the simulator hands out keep the scheme the client used.
            assert body["page_details"]["current_url"].startswith("https://")
            ws = await http.ws_connect(f"{handle.ws_base}/v3/ws", headers=headers, ssl=trust)
            begin = json.loads((await ws.receive(timeout=3)).data)
            assert_stream_message(begin)
            await ws.close()
    finally:
        await handle.close()


async def test_a_client_that_does_not_trust_the_certificate_is_refused(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    handle = await start_simulator(tls=server_context(cert, key))
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await http.get(f"{handle.base_url}/v2/transcript")
    finally:
        await handle.close()


def test_simulate_tls_prints_a_trustable_certificate_and_removes_it() -> None:
    with simulate("--tls") as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        assert sim.ws_base == sim.base_url.replace("https://", "wss://")
        assert sim.cert is not None and sim.cert.is_file()
        assert any(f"NODE_EXTRA_CA_CERTS={sim.cert}" in line for line in sim.lines)
        assert any(f"SSL_CERT_FILE={sim.cert}" in line for line in sim.lines)
        request = f"{sim.base_url}/_sim/state"
        import urllib.request

        with urllib.request.urlopen(request, context=_client_context(sim.cert), timeout=5) as r:
            assert json.load(r)["streaming"]["opened"] == 0
        directory = sim.cert.parent
    assert sim.process.returncode == 0
    assert not directory.exists()


def test_simulate_serves_a_given_pair(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    with simulate("--tls-cert", str(cert), "--tls-key", str(key)) as sim:
        assert sim.base_url.startswith("https://")
        assert sim.cert == cert
        import urllib.request

        with urllib.request.urlopen(
            f"{sim.base_url}/_sim/state", context=_client_context(cert), timeout=5
        ) as r:
            assert r.status == 200
    assert cert.is_file()  # a given pair is the user's: left alone


def _bad_pairs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    cert, key = make_self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, other_key = make_self_signed(other)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    missing = tmp_path / "missing.pem"
    return {
        "mismatched": (
            ["--tls-cert", str(cert), "--tls-key", str(other_key)],
            f"the TLS key {other_key} does not belong to the certificate {cert}",
        ),
        "unreadable-cert": (
            ["--tls-cert", str(missing), "--tls-key", str(key)],
            f"cannot read the TLS certificate {missing}",
        ),
        "unreadable-key": (
            ["--tls-cert", str(cert), "--tls-key", str(missing)],
            f"cannot read the TLS key {missing}",
        ),
        "not-pem": (
            ["--tls-cert", str(garbage), "--tls-key", str(key)],
            f"cannot load the TLS certificate {garbage} with the key {key} (both must be PEM)",
        ),
        "cert-alone": (["--tls-cert", str(cert)], "--tls-cert and --tls-key go together"),
    }


@pytest.mark.parametrize(
    "case", ["mismatched", "unreadable-cert", "unreadable-key", "not-pem", "cert-alone"]
)
def test_simulate_refuses_an_unusable_pair(tmp_path: Path, case: str) -> None:
    args, message = _bad_pairs(tmp_path)[case]
    out = subprocess.run(
        command("simulate", "--listen", "127.0.0.1:0", *args),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_server_context_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TLSError, match=r"nowhere\.pem"):
        server_context(tmp_path / "nowhere.pem", tmp_path / "nokey.pem")


# -- the official Python SDK's temporary-token flow, unchanged, over TLS -------------------


@pytest.fixture
def tls_threaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Yield the ``host:port`` of a TLS simulator whose certificate the process trusts."""
    cert, key = make_self_signed(tmp_path)
    # What a user does: point OpenSSL (websockets) and httpx at the certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    sim = start_simulator_thread(tls=server_context(cert, key))
    try:
        yield f"127.0.0.1:{sim.handle.port}"
    finally:
        sim.stop()


def _key_options(host: str) -> StreamingClientOptions:
    return StreamingClientOptions(api_key=DEFAULT_API_KEY, api_host=host)


def test_sdk_streams_with_a_temporary_token_over_tls(tls_threaded: str) -> None:
    minting = StreamingClient(
        StreamingClientOptions(api_key=DEFAULT_API_KEY, api_host=tls_threaded)
    )
    token = minting.create_temporary_token(expires_in_seconds=60, max_session_duration_seconds=600)
    events: dict[str, list[object]] = {"begin": [], "turns": [], "end": [], "errors": []}
    client = StreamingClient(StreamingClientOptions(token=token, api_host=tls_threaded))
    client.on(StreamingEvents.Begin, lambda _c, e: events["begin"].append(e))
    client.on(StreamingEvents.Turn, lambda _c, e: events["turns"].append(e))
    client.on(StreamingEvents.Termination, lambda _c, e: events["end"].append(e))
    client.on(StreamingEvents.Error, lambda _c, e: events["errors"].append(e))
    client.connect(StreamingParameters(sample_rate=16000, format_turns=True))

    client.stream(_paced(clip_pcm()))
    client.disconnect(terminate=True)
    assert events["errors"] == []
    assert len(events["begin"]) == 1 and isinstance(events["begin"][0], BeginEvent)
    turns = [t for t in events["turns"] if isinstance(t, TurnEvent)]
    assert any(t.end_of_turn and t.turn_is_formatted and t.transcript == CLIP_TEXT for t in turns)
    assert len(events["end"]) == 1 and isinstance(events["end"][0], TerminationEvent)


def test_sdk_token_is_good_for_one_session_over_tls(tls_threaded: str) -> None:
    minting = StreamingClient(
        StreamingClientOptions(api_key=DEFAULT_API_KEY, api_host=tls_threaded)
    )
    token = minting.create_temporary_token(expires_in_seconds=60)
    first = StreamingClient(StreamingClientOptions(token=token, api_host=tls_threaded))
    began = threading.Event()
    first.on(StreamingEvents.Begin, lambda _c, _e: began.set())
    first.connect(StreamingParameters(sample_rate=16000))  # type: ignore[call-arg]
    assert began.wait(timeout=5)
    errors: list[StreamingError] = []
    failed = threading.Event()

    def on_error(_c: StreamingClient, error: StreamingError) -> None:
        errors.append(error)
        failed.set()

    second = StreamingClient(StreamingClientOptions(token=token, api_host=tls_threaded))
    second.on(StreamingEvents.Error, on_error)
    second.connect(StreamingParameters(sample_rate=16000))  # type: ignore[call-arg]
    assert failed.wait(timeout=5)
    second.disconnect()
    first.disconnect(terminate=True)
    assert errors and errors[0].code == 1008


def test_sdk_rest_over_tls(tls_threaded: str) -> None:
    saved = (aai.settings.base_url, aai.settings.api_key)
    aai.settings.base_url, aai.settings.api_key = f"https://{tls_threaded}", DEFAULT_API_KEY
    try:
        page = aai.Transcriber().list_transcripts()
    finally:
        aai.settings.base_url, aai.settings.api_key = saved
    assert page.transcripts == []


def _paced(pcm: bytes) -> Iterator[bytes]:
    start = time.monotonic()
    for index, chunk in enumerate(frames(pcm)):
        yield chunk
        time.sleep(max(0.0, start + (index + 1) * 0.05 - time.monotonic()))


def test_sdk_u3_pro_session_over_tls(tls_threaded: str) -> None:
    events: dict[str, list[object]] = {"speech": [], "turns": [], "end": [], "errors": []}
    client = StreamingClient(_key_options(tls_threaded))
    client.on(StreamingEvents.SpeechStarted, lambda _c, e: events["speech"].append(e))
    client.on(StreamingEvents.Turn, lambda _c, e: events["turns"].append(e))
    client.on(StreamingEvents.Termination, lambda _c, e: events["end"].append(e))
    client.on(StreamingEvents.Error, lambda _c, e: events["errors"].append(e))
    client.connect(StreamingParameters(sample_rate=16000, speech_model="u3-rt-pro"))
    client.stream(_paced(clip_pcm()))
    client.disconnect(terminate=True)
    assert events["errors"] == []
    assert [type(e).__name__ for e in events["speech"]] == ["SpeechStartedEvent"]
    (turn,) = [t for t in events["turns"] if isinstance(t, TurnEvent)]
    assert turn.end_of_turn and turn.turn_is_formatted and turn.transcript == CLIP_TEXT
    assert turn.end_of_turn_confidence == 1
    assert len(events["end"]) == 1


def test_sdk_session_idle_past_inactivity_timeout_ends_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = make_self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    scenario = Scenario.model_validate({"streaming": {"inactivity_timeout_s": 0.3}})
    sim = start_simulator_thread(scenario=scenario, tls=server_context(cert, key))
    try:
        ended = threading.Event()
        errors: list[StreamingError] = []
        client = StreamingClient(_key_options(f"127.0.0.1:{sim.handle.port}"))
        client.on(StreamingEvents.Termination, lambda _c, _e: ended.set())
        client.on(StreamingEvents.Error, lambda _c, e: errors.append(e))
        client.connect(StreamingParameters(sample_rate=16000, inactivity_timeout=5))
        assert ended.wait(timeout=3)
        client.disconnect()
        assert errors == []
        assert sim.handle.state()["streaming"]["unterminated"] == 0
    finally:
        sim.stop()


def test_sdk_reports_a_bad_query_value_as_3006(tls_threaded: str) -> None:
    errors: list[StreamingError] = []
    failed = threading.Event()

    def on_error(_c: StreamingClient, error: StreamingError) -> None:
        errors.append(error)
        failed.set()

    client = StreamingClient(_key_options(tls_threaded))
    client.on(StreamingEvents.Error, on_error)
    client.connect(StreamingParameters(sample_rate=16000, end_of_turn_confidence_threshold=1.5))
    assert failed.wait(timeout=5)
    client.disconnect()
    # The SDK words it from its own code table (the close reason goes to its log).
    assert (errors[0].code, str(errors[0])) == (3006, "Input validation error")
