"""The Deepgram simulator's REST side against its protocol: auth, projects, listen, request log."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.simulator.deepgram import PROJECT_ID, SimulatorHandle
from tests.support.deepgram import token
from tests.support.polling import eventually
from tests.support.simulator import CLIP_TEXT, clip_bytes

LISTEN = "/v1/listen?model=nova-3&smart_format=true&punctuate=true"


async def call(
    http: aiohttp.ClientSession,
    handle: SimulatorHandle,
    method: str,
    path: str,
    **kwargs: Any,
) -> tuple[int, Any, Any]:
    """Return (status, parsed body or text, headers) of one request."""
    kwargs.setdefault("headers", token())
    async with http.request(method, handle.base_url + path, **kwargs) as resp:
        text = await resp.text()
        try:
            body: Any = await resp.json(content_type=None)
        except ValueError:
            body = text
        return resp.status, body, resp.headers


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Token sim-key"}, 200),
        ({"Authorization": "token sim-key"}, 200),
        ({"Authorization": "TOKEN sim-key"}, 200),
        ({"Authorization": "sim-key"}, 401),
        ({"Authorization": "Token wrong"}, 401),
        ({"Authorization": "Bearer sim-key"}, 401),
        ({}, 401),
    ],
    ids=["Token", "token", "TOKEN", "bare-key", "wrong-key", "bearer-key", "none"],
)
async def test_projects_auth(
    dg: SimulatorHandle, http: aiohttp.ClientSession, headers: dict[str, str], status: int
) -> None:
    got, body, resp_headers = await call(http, dg, "GET", "/v1/projects", headers=headers)
    assert got == status
    assert resp_headers["dg-request-id"]
    if status == 200:
        assert body == {"projects": [{"project_id": PROJECT_ID, "name": "sttwatch simulator"}]}
    else:
        assert body["err_code"] == "INVALID_AUTH"
        assert body["err_msg"] == "Invalid credentials."
        assert body["request_id"] == resp_headers["dg-request-id"]


async def test_listen_raw_wav_is_the_clip(dg: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    status, body, headers = await call(
        http,
        dg,
        "POST",
        LISTEN + "&mip_opt_out=true",
        data=clip_bytes(),
        headers={**token(), "Content-Type": "application/octet-stream"},
    )
    assert status == 200, body
    assert "request_id" not in body  # a top-level request_id would make the SDK read "accepted"
    meta = body["metadata"]
    assert meta["request_id"] == headers["dg-request-id"]
    assert abs(meta["duration"] - 2.2806) < 0.001
    assert meta["channels"] == 1
    assert list(meta["model_info"]) == meta["models"]
    assert meta["created"].endswith("Z")
    alt = body["results"]["channels"][0]["alternatives"][0]
    assert alt["transcript"] == CLIP_TEXT
    assert [w["word"] for w in alt["words"]][:2] == ["the", "quick"]
    assert alt["words"][-1]["punctuated_word"] == "dog."
    assert all(0 < w["start"] < w["end"] < 2.3 for w in alt["words"])


async def test_listen_unformatted_is_lower_case_without_punctuation(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, dg, "POST", "/v1/listen?model=nova-3", data=clip_bytes())
    alt = body["results"]["channels"][0]["alternatives"][0]
    assert status == 200
    assert alt["transcript"] == "the quick brown fox jumps over the lazy dog"
    assert "punctuated_word" not in alt["words"][0]


@pytest.mark.parametrize(
    ("data", "content_type", "err_msg"),
    [
        (b"", "audio/wav", "Bad Request: failed to process audio: corrupt or unsupported data"),
        (b"<html>hello</html>", "audio/wav", "Bad Request: failed to process audio"),
        (b'{"url": "http://x/a.wav"}', "text/plain", "Bad Request: failed to process audio"),
        (b"{not json", "application/json", "could not process the JSON payload"),
    ],
    ids=["empty", "html-as-audio", "json-without-json-type", "bad-json"],
)
async def test_listen_bad_bodies(
    dg: SimulatorHandle, http: aiohttp.ClientSession, data: bytes, content_type: str, err_msg: str
) -> None:
    status, body, _ = await call(
        http, dg, "POST", LISTEN, data=data, headers={**token(), "Content-Type": content_type}
    )
    assert status == 400
    assert err_msg in body["err_msg"]


@pytest.mark.parametrize(
    ("query", "strict", "status"),
    [
        ("mip_opt_out=True", True, 400),
        ("punctuate=1", True, 400),
        ("mip_opt_out=true", True, 200),
        ("mip_opt_out=True", False, 200),
        ("no_delay=whatever", True, 200),
        ("callback=ftp://x", True, 400),
    ],
    ids=["capitalised", "digit", "lower", "lenient", "unknown-ignored", "bad-callback"],
)
async def test_listen_query_validation(
    make_dg: Any, http: aiohttp.ClientSession, query: str, strict: bool, status: int
) -> None:
    handle = await make_dg(strict_booleans=strict)
    got, body, _ = await call(http, handle, "POST", f"/v1/listen?{query}", data=clip_bytes())
    assert got == status, body
    if status == 400:
        assert body["err_code"] == "INVALID_QUERY_PARAMETER"


async def test_listen_json_url_is_downloaded(
    dg: SimulatorHandle, http: aiohttp.ClientSession, aiohttp_server: Any
) -> None:
    async def clip(_: web.Request) -> web.Response:
        return web.Response(body=clip_bytes())

    app = web.Application()
    app.router.add_get("/clip.wav", clip)
    server = await aiohttp_server(app)
    status, body, _ = await call(
        http, dg, "POST", LISTEN, json={"url": str(server.make_url("/clip.wav"))}
    )
    assert status == 200, body
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"] == CLIP_TEXT


async def test_bearer_grant_works_for_listen_not_for_projects(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, dg, "POST", "/v1/auth/grant", json={"ttl_seconds": 60})
    assert status == 200 and body["expires_in"] == 60
    bearer = {"Authorization": f"bearer {body['access_token']}"}
    got, _, _ = await call(http, dg, "POST", LISTEN, data=clip_bytes(), headers=bearer)
    assert got == 200
    got, _, _ = await call(http, dg, "GET", "/v1/projects", headers=bearer)
    assert got == 401


async def test_request_log_shows_the_query(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    _, body, _ = await call(http, dg, "POST", LISTEN + "&mip_opt_out=true", data=clip_bytes())
    rid = body["metadata"]["request_id"]
    status, entry, _ = await call(http, dg, "GET", f"/v1/projects/{PROJECT_ID}/requests/{rid}")
    assert status == 200
    assert "mip_opt_out=true" in entry["request"]["path"]
    assert entry["request"]["code"] == 200
    assert dg.state()["listen"] == {"requests": 1, "mip_opt_out": 1}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/v1/projects/{PROJECT_ID}/requests/00000000-0000-0000-0000-000000000000", "REQUEST"),
        ("/v1/projects/00000000-0000-0000-0000-000000000000/requests/x", "PROJECT_NOT_FOUND"),
        ("/v1/projects/p-1/requests/x", "UUID parsing failed"),
        ("/v1/nothing-here", "NOT_FOUND"),
    ],
    ids=["unknown-request", "unknown-project", "malformed-project", "unknown-route"],
)
async def test_not_found_forms(
    dg: SimulatorHandle, http: aiohttp.ClientSession, path: str, expected: str
) -> None:
    status, body, _ = await call(http, dg, "GET", path)
    assert status == 404
    assert expected in (body if isinstance(body, str) else body["err_code"])


async def test_callback_answers_accepted_then_posts_the_result(
    dg: SimulatorHandle, http: aiohttp.ClientSession, aiohttp_server: Any
) -> None:
    received: list[tuple[dict[str, Any], str]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(), request.headers.get("dg-token", "")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/cb", hook)
    server = await aiohttp_server(app)
    url = str(server.make_url("/cb"))
    status, body, _ = await call(
        http, dg, "POST", LISTEN, data=clip_bytes(), params={"callback": url}
    )
    assert status == 200 and set(body) == {"request_id"}
    await eventually(lambda: bool(received), "the callback", within=5)
    result, dg_token = received[0]
    assert result["metadata"]["request_id"] == body["request_id"]
    assert dg_token and "sim-key" not in dg_token  # the key's id, never the secret


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ({"action": "status", "status": 429}, 429, "TOO_MANY_REQUESTS"),
        ({"action": "status", "status": 503}, 503, "error_code"),
        ({"action": "status", "status": 502}, 502, ""),
        ({"action": "html"}, 200, "<!DOCTYPE html>"),
        ({"action": "malformed", "body_kind": "not_json"}, 200, "upstream connect error"),
    ],
    ids=["429", "503", "502-empty", "html", "not-json"],
)
async def test_http_faults(
    dg: SimulatorHandle,
    http: aiohttp.ClientSession,
    fault: dict[str, Any],
    status: int,
    check: str,
) -> None:
    dg.set_faults([{"endpoint": "listen", **fault}])
    async with http.post(dg.base_url + LISTEN, data=clip_bytes(), headers=token()) as resp:
        text = await resp.text()
        assert resp.status == status
        assert check in text
        # Deepgram documents no rate-limit headers: none unless a fault adds them.
        assert "Retry-After" not in resp.headers
    assert dg.state()["faults_applied"] == {fault["action"]: 1}


async def test_hang_holds_until_the_client_gives_up(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    dg.set_faults([{"endpoint": "*", "action": "hang"}])
    with pytest.raises(asyncio.TimeoutError):
        await http.get(
            dg.base_url + "/v1/projects",
            headers=token(),
            timeout=aiohttp.ClientTimeout(total=0.3),
        )


@pytest.mark.parametrize(
    "fault",
    [
        {"endpoint": "ws", "action": "hang"},
        {"endpoint": "listen", "action": "close", "code": 1011},
        {"endpoint": "*", "action": "wrong_text", "text": "x"},
        {"endpoint": "listen", "action": "status"},
        {"endpoint": "listen", "action": "status", "status": 500, "colour": "red"},
    ],
    ids=["hang-on-ws", "close-on-listen", "star-job-action", "status-without-code", "typo"],
)
async def test_control_refuses_bad_faults(
    dg: SimulatorHandle, http: aiohttp.ClientSession, fault: dict[str, Any]
) -> None:
    async with http.post(dg.base_url + "/_sim/faults", json=[fault]) as resp:
        assert resp.status == 400
        assert "error" in await resp.json()
    assert dg.state()["faults"] == []
