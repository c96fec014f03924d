"""Deepgram's REST side: projects, the request log, token grants, and ``POST /v1/listen``.

``POST /v1/listen`` is synchronous: the answer carries the finished
transcript (no job, no polling, nothing to delete). The body is JSON
``{"url": ...}`` only under ``Content-Type: application/json``; anything else
is audio, sniffed by its bytes whatever the declared type. With ``callback``
the answer is ``{"request_id"}`` and the result is POSTed there later.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import uuid
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler

from ..clips import Transcription, align_words, read_wav
from ..downloads import download
from ..http_faults import STACKABLE, apply
from . import results
from .answers import (
    INVALID_AUTH,
    REQUEST_ID_HEADER,
    error_response,
    fault_response,
    new_request_id,
    parse_authorization,
)
from .params import QueryError, parse_listen
from .scenario import HTTP_ACTIONS, HTTP_ENDPOINTS, LISTEN_ACTIONS, PROJECT_ID
from .state import DeepgramState, Grant, LoggedRequest

STATE_KEY: web.AppKey[DeepgramState] = web.AppKey("deepgram_state", DeepgramState)

CORRUPT_AUDIO = "Bad Request: failed to process audio: corrupt or unsupported data"
DEFAULT_GRANT_TTL_S = 30
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
# The first bytes of the containers the service reads without `encoding=`.
_CONTAINERS = (b"RIFF", b"OggS", b"ID3", b"fLaC", b"\x1a\x45\xdf\xa3", b"\xff\xfb", b"\xff\xf3")


def is_container(data: bytes) -> bool:
    """Return True if ``data`` starts like an audio file (WAV, Ogg, MP3, FLAC, WebM, MP4)."""
    return data.startswith(_CONTAINERS) or data[4:8] == b"ftyp"


def key_id(key: str) -> str:
    """Return the public id of an API key (what ``dg-token`` and the request log show)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"deepgram-simulator-key:{key}"))


def caller(request: web.Request, state: DeepgramState, *, keys_only: bool = False) -> str | None:
    """Return the API key behind the request's credential (None: refuse it)."""
    parsed = parse_authorization(request.headers.get("Authorization"))
    if parsed is None or (keys_only and parsed[0] != "token"):
        return None
    return state.key_of(*parsed)


def unauthorized() -> web.Response:
    """Return the 401 of a missing or wrong credential."""
    return error_response(401, "INVALID_AUTH", INVALID_AUTH)


@web.middleware
async def http_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each API request and apply the HTTP faults that fire for it."""
    state = request.app[STATE_KEY]
    endpoint = request.match_info.route.name
    if endpoint is None or endpoint not in HTTP_ENDPOINTS | {"ws"}:
        return await handler(request)
    state.requests[endpoint] += 1
    if endpoint == "ws":
        return await handler(request)
    fired = state.faults.pick(endpoint, HTTP_ACTIONS, stackable=STACKABLE)
    # A mangled answer keeps the real one's request id, as a proxy would pass it on.
    return await apply(request, handler, fired, state.closing, fault_response, (REQUEST_ID_HEADER,))


@web.middleware
async def body_too_large(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a body over the limit with Deepgram's JSON 413, not aiohttp's text."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "PAYLOAD_TOO_LARGE", "Payload too large.")


async def projects(request: web.Request) -> web.StreamResponse:
    """``GET /v1/projects``: the key's one project (JWTs are refused on the Manage API)."""
    state = request.app[STATE_KEY]
    if caller(request, state, keys_only=True) is None:
        return unauthorized()
    return web.json_response(
        {"projects": [{"project_id": PROJECT_ID, "name": "sttwatch simulator"}]},
        headers={REQUEST_ID_HEADER: new_request_id()},
    )


async def logged_request(request: web.Request) -> web.StreamResponse:
    """``GET /v1/projects/{project_id}/requests/{request_id}``: one entry of the request log."""
    state = request.app[STATE_KEY]
    key = caller(request, state, keys_only=True)
    if key is None:
        return unauthorized()
    project = request.match_info["project_id"]
    if not _UUID.match(project):
        # Documented: a malformed id is answered in plain text, not JSON.
        return web.Response(
            status=404,
            text="UUID parsing failed: invalid character: expected an optional prefix of "
            f"`urn:uuid:` followed by [0-9a-zA-Z], found `{project[:1]}` at 1",
        )
    if project != PROJECT_ID:
        return web.json_response(
            {"err_code": "PROJECT_NOT_FOUND", "err_msg": "Project not found."}, status=404
        )
    entry = state.log.get(request.match_info["request_id"])
    if entry is None or entry.api_key != key:
        return error_response(404, "REQUEST_NOT_FOUND", "Request not found.")
    return web.json_response(
        {
            "request": {
                "request_id": entry.request_id,
                "project_uuid": PROJECT_ID,
                "created": entry.created,
                "path": entry.path,
                "api_key_id": key_id(entry.api_key),
                "response": entry.response,
                "code": entry.code,
                "deployment": "hosted",
                "callback": entry.callback,
            }
        }
    )


async def grant(request: web.Request) -> web.StreamResponse:
    """``POST /v1/auth/grant``: a temporary token for ``/v1/listen`` (REST and WS)."""
    state = request.app[STATE_KEY]
    key = caller(request, state, keys_only=True)
    if key is None:
        return unauthorized()
    ttl = DEFAULT_GRANT_TTL_S
    raw = await request.read()
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            return error_response(400, "Bad Request", "Invalid JSON submitted.")
        value = body.get("ttl_seconds") if isinstance(body, dict) else None
        if value is not None:
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3600:
                return error_response(
                    400, "INVALID_QUERY_PARAMETER", "ttl_seconds must be between 1 and 3600"
                )
            ttl = value
    token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9." + secrets.token_urlsafe(32)
    state.grants[token] = Grant(key, state.clock() + ttl)
    return web.json_response({"access_token": token, "expires_in": ttl})


async def _audio_of(request: web.Request, state: DeepgramState) -> bytes | web.Response:
    """Return the request's audio: the body, or the bytes at its JSON ``url``."""
    raw = await request.read()
    if request.content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            return error_response(
                400,
                "Bad Request",
                "Content-type was application/json, but we could not process the JSON payload.",
            )
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            return error_response(400, "Bad Request", "Bad Request: the JSON body needs a url.")
        if not state.scenario.audio_fetch.enabled:
            return url.encode()  # offline: heard as a placeholder for the URL
        fetched = await download(state.outbound.session(), url, state.scenario.audio_fetch)
        if isinstance(fetched, str):
            return error_response(
                400, "REMOTE_CONTENT_ERROR", f"Could not fetch the audio at the url: {fetched}"
            )
        raw = fetched
    return raw


def _hear(data: bytes, state: DeepgramState, from_url: bool) -> tuple[Transcription, float]:
    """Return what the audio says, and its exact length in seconds."""
    if from_url and not state.scenario.audio_fetch.enabled:
        heard = state.clips.transcribe_url(data.decode())
        return heard, heard.duration_ms / 1000
    heard = state.clips.transcribe_upload(data)
    parsed = read_wav(data)
    seconds = len(parsed[0]) / 2 / parsed[1] if parsed is not None else heard.duration_ms / 1000
    return heard, seconds


def _wrong_text(heard: Transcription, text: str) -> Transcription:
    span = (heard.words[0].start, heard.words[-1].end) if heard.words else (100, 2000)
    words = align_words(text, span, text.encode())
    return Transcription(text, words, heard.duration_ms)


async def listen(request: web.Request) -> web.StreamResponse:
    """``POST /v1/listen``: transcribe the audio and answer with the whole result."""
    state = request.app[STATE_KEY]
    key = caller(request, state)
    if key is None:
        return unauthorized()
    try:
        query = parse_listen(request.query, state.scenario.strict_booleans)
    except QueryError as exc:
        return error_response(400, "INVALID_QUERY_PARAMETER", str(exc))
    audio = await _audio_of(request, state)
    if isinstance(audio, web.Response):
        return audio
    from_url = request.content_type == "application/json"
    if not from_url and (not audio or (query.encoding is None and not is_container(audio))):
        return error_response(400, "Bad Request", CORRUPT_AUDIO)
    heard, seconds = _hear(audio, state, from_url)
    for fault in state.faults.pick("listen", LISTEN_ACTIONS, stackable=LISTEN_ACTIONS):
        if fault.text is not None:
            heard = _wrong_text(heard, fault.text)
    await asyncio.sleep(state.scenario.prerecorded.processing_ms / 1000)
    request_id = new_request_id()
    body = results.prerecorded(
        request_id=request_id,
        sha256=hashlib.sha256(audio).hexdigest(),
        duration_ms=round(seconds * 1000),
        words=list(heard.words),
        model=query.model,
        formatted=query.formatted,
        tags=results.query_list(request.query, "tag"),
    )
    body["metadata"]["duration"] = round(seconds, 6)
    state.log[request_id] = LoggedRequest(
        request_id=request_id,
        api_key=key,
        created=body["metadata"]["created"],
        path=request.path_qs,
        code=200,
        callback=query.callback,
        response={"metadata": body["metadata"]},
    )
    headers = {
        REQUEST_ID_HEADER: request_id,
        "dg-model-name": results.model_info(query.model)["name"],
        "dg-model-uuid": results.MODEL_UUID,
    }
    if query.callback is not None:
        _schedule_callback(state, query.callback, query.callback_method, body, key)
        return web.json_response({"request_id": request_id}, headers=headers)
    return web.json_response(body, headers=headers)


def _schedule_callback(
    state: DeepgramState, url: str, method: str, body: dict[str, Any], key: str
) -> None:
    faults = state.faults.pick("callback", frozenset({"drop", "delay"}), frozenset({"delay"}))
    state.callbacks["scheduled"] += 1
    if any(f.action == "drop" for f in faults):
        state.callbacks["dropped"] += 1
        return
    delay_s = sum((f.delay_ms or 0) for f in faults if f.action == "delay") / 1000
    state.outbound.spawn(_deliver(state, url, method, body, key, delay_s))


async def _deliver(
    state: DeepgramState, url: str, method: str, body: dict[str, Any], key: str, delay_s: float
) -> None:
    """POST (or PUT) the result to the callback URL; retry a non-2xx as Deepgram does."""
    options = state.scenario.prerecorded
    await asyncio.sleep(delay_s)
    for attempt in range(options.callback_attempts):
        if attempt:
            await asyncio.sleep(options.callback_retry_ms / 1000)
        state.callbacks["attempts"] += 1
        try:
            async with state.outbound.session().request(
                method, url, json=body, headers={"dg-token": key_id(key)}
            ) as response:
                if 200 <= response.status < 300:
                    state.callbacks["delivered"] += 1
                    return
        except (aiohttp.ClientError, TimeoutError, ValueError):
            pass  # unreachable: retried like a non-2xx
    state.callbacks["failed"] += 1


async def unknown_route(request: web.Request) -> web.StreamResponse:
    """Answer any other ``/v1/`` path with a JSON 404, never an HTML page."""
    return error_response(404, "NOT_FOUND", "Not found.")


async def _close_outbound(app: web.Application) -> None:
    await app[STATE_KEY].outbound.close()


def add_routes(app: web.Application) -> None:
    """Register the REST routes on ``app`` (the WebSocket shares ``/v1/listen``: GET)."""
    app.router.add_get("/v1/projects", projects, name="projects")
    app.router.add_get(
        "/v1/projects/{project_id}/requests/{request_id}", logged_request, name="requests"
    )
    app.router.add_post("/v1/auth/grant", grant, name="grant")
    app.router.add_post("/v1/listen", listen, name="listen")
    app.on_cleanup.append(_close_outbound)


def add_fallback(app: web.Application) -> None:
    """Register the JSON 404 for every other ``/v1/`` path (after all real routes)."""
    app.router.add_route("*", "/v1/{tail:.*}", unknown_route)
