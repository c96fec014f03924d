"""The OpenAI-compatible API: models, transcriptions, translations, and the HTTP faults."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from ..clips import Transcription, align_words
from ..http_faults import CAPTIVE_PORTAL_HTML, NOT_JSON_BODY, WRONG_SHAPE_BODY, hang
from . import formats
from .flavours import JSON_FORMATS, ModelCard
from .forms import AudioRequest, model_missing, read_form
from .replies import error_body, error_response, fault_response, json_text, mangled, request_id
from .scenario import AUDIO_ACTIONS, HTTP_ACTIONS, HTTP_ENDPOINTS, Fault
from .state import SimState

STATE_KEY: web.AppKey[SimState] = web.AppKey("openai_sim_state", SimState)
MIN_AUDIO_MS = 100
# What the fault middleware tells the handler and the header hook about one request.
_T0 = web.RequestKey("sim_t0", float)
_CUT = web.RequestKey("sim_cut", bool)
_MANGLE = web.RequestKey("sim_mangle", str)
_LIMITS: web.RequestKey[dict[str, str]] = web.RequestKey("sim_rate_limit_headers", dict)


def _state(request: web.Request) -> SimState:
    return request.app[STATE_KEY]


def _cut(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Drop the connection instead of answering (a proxy reset, a crashed worker)."""
    if request.transport is not None:
        request.transport.abort()
    return response


@web.middleware
async def http_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each API request and apply the HTTP faults that fire for it."""
    state = _state(request)
    request[_T0] = state.clock()
    endpoint = request.match_info.route.name
    if endpoint is None or endpoint not in HTTP_ENDPOINTS:
        return await handler(request)
    state.requests[endpoint] += 1
    for fault in state.faults.pick(endpoint, HTTP_ACTIONS, stackable=frozenset({"delay"})):
        if fault.action == "delay":
            await asyncio.sleep((fault.delay_ms or 0) / 1000)
        elif fault.action == "hang":
            return await hang(request, state.closing)
        elif fault.action == "status":
            return fault_response(state.flavour, fault)
        elif fault.action == "html":
            return web.Response(text=CAPTIVE_PORTAL_HTML, content_type="text/html")
        elif fault.action == "close":
            # The handler runs (a stream sends its first event); then the connection drops.
            request[_CUT] = True
            return _cut(request, await handler(request))
        elif fault.action == "malformed":
            request[_MANGLE] = fault.body_kind or "not_json"
            response = await handler(request)
            # A stream already sent mangled its own events (see _stream).
            return response if response.prepared else mangled(response, request[_MANGLE])
    return await handler(request)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the headers the flavour's server puts on every API answer."""
    if _T0 not in request or request.match_info.route.name not in HTTP_ENDPOINTS:
        return
    state = _state(request)
    flavour = state.flavour
    rid = request_id(flavour)
    if rid is not None:
        response.headers.setdefault("x-request-id", rid)
    if flavour.openai_headers:
        spent = round((state.clock() - request[_T0]) * 1000)
        response.headers.setdefault("openai-processing-ms", str(spent))
        response.headers.setdefault("openai-version", "2020-10-01")
        response.headers.setdefault("openai-organization", "user-sim")
    for name, value in request.get(_LIMITS, {}).items():
        response.headers.setdefault(name, value)


def _authenticate(request: web.Request, state: SimState) -> tuple[str, web.Response | None]:
    """Return the caller's key, and the refusal if it has no accepted one."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip() if scheme.lower() == "bearer" else ""
    if not state.require_auth or key in state.scenario.api_keys:
        return key or "anonymous", None
    flavour = state.flavour
    if flavour.error_style == "detail":
        refusal = error_response(
            flavour, flavour.auth_status, "Invalid or missing API key",
            headers={"WWW-Authenticate": "Bearer"},
        )  # fmt: skip
    elif not key:
        refusal = error_response(
            flavour,
            flavour.auth_status,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    else:
        # Like the real message, only the ends of the key are shown.
        shown = f"{key[:3]}***{key[-2:]}" if len(key) > 8 else "***"
        refusal = error_response(
            flavour,
            flavour.auth_status,
            f"Incorrect API key provided: {shown}.",
            code="invalid_api_key",
        )
    return key, refusal


def _model_json(state: SimState, card: ModelCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "object": "model",
        "created": card.created,
        "owned_by": card.owned_by,
        **state.flavour.model_extras,
    }


async def list_models(request: web.Request) -> web.StreamResponse:
    """``GET <prefix>/models``: every model, whole (no pagination)."""
    state = _state(request)
    _, refusal = _authenticate(request, state)
    if refusal is not None:
        return refusal
    data = [_model_json(state, card) for card in state.flavour.models]
    return web.json_response({"object": "list", "data": data})


async def get_model(request: web.Request) -> web.StreamResponse:
    """``GET <prefix>/models/{model}``: one model (ids with a slash arrive percent-encoded)."""
    state = _state(request)
    _, refusal = _authenticate(request, state)
    if refusal is not None:
        return refusal
    model_id = request.match_info["model"]
    card = state.flavour.model(model_id)
    if card is None:
        return model_missing(state.flavour, model_id)
    return web.json_response(_model_json(state, card))


def _too_large(state: SimState, size: int) -> web.Response:
    limit = state.max_upload_bytes
    return error_response(
        state.flavour,
        413,
        f"Maximum content size limit ({limit}) exceeded ({size} bytes read)",
        type_="server_error",
    )


def _problem(state: SimState, audio: bytes, heard: Transcription) -> web.Response | None:
    """Return the 400 a real server gives for audio it cannot use, if any."""
    try:
        text = audio[:2048].decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text.strip() and all(c.isprintable() or c.isspace() for c in text):
        return error_response(
            state.flavour, 400, "Audio file might be corrupted or unsupported",
            param="file", code="invalid_value",
        )  # fmt: skip
    if heard.duration_ms < MIN_AUDIO_MS:
        return error_response(
            state.flavour, 400, "Audio file is too short. Minimum audio length is 0.1 seconds.",
            param="file", code="audio_too_short",
        )  # fmt: skip
    return None


def _retext(heard: Transcription, text: str) -> Transcription:
    """Return `heard` re-heard as `text`, over the same span of audio."""
    words = heard.words
    span = (words[0].start, words[-1].end) if words else (0, heard.duration_ms)
    return Transcription(text, align_words(text, span, text.encode()), heard.duration_ms)


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json_text(data)}\n\n".encode()


async def _stream(
    request: web.Request, state: SimState, asked: AudioRequest, heard: Transcription,
    faults: list[Fault],
) -> web.StreamResponse:  # fmt: skip
    """Answer Server-Sent Events: deltas, then one done event (no ``[DONE]``, as OpenAI)."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    state.streams["opened"] += 1
    interval = state.scenario.stream_interval_ms / 1000
    first_delay = sum((f.delay_ms or 0) for f in faults if f.action == "first_delta_delay")
    error = next((f for f in faults if f.action == "stream_error"), None)
    if first_delay:
        await asyncio.sleep(first_delay / 1000)
    if _MANGLE in request:
        await response.write(_mangled_events(request[_MANGLE]))
        await response.write_eof()
        state.streams["cut"] += 1
        return response
    for index, delta in enumerate(formats.stream_deltas(state.flavour, heard)):
        if index:
            await asyncio.sleep(interval)
        await response.write(_event({"type": "transcript.text.delta", "delta": delta}))
        if request.get(_CUT):
            state.streams["cut"] += 1
            return response
        if error is not None:
            said = error.message or "The server had an error while processing your request."
            body = error_body(state.flavour, said, type_="server_error")
            await response.write(_event(body))
            await response.write_eof()
            state.streams["cut"] += 1
            return response
    await asyncio.sleep(interval)
    await response.write(_event(formats.done_event(asked.card, heard)))
    await response.write_eof()
    state.streams["completed"] += 1
    return response


def _mangled_events(body_kind: str) -> bytes:
    """Return what a broken proxy makes of an event stream."""
    if body_kind == "not_json":
        return f"data: {NOT_JSON_BODY}\n\n".encode()
    if body_kind == "wrong_shape":
        return _event(WRONG_SHAPE_BODY) * 3
    whole = _event({"type": "transcript.text.delta", "delta": "The"})
    return whole[: len(whole) // 2]


def _render(
    state: SimState, asked: AudioRequest, heard: Transcription, rid: str | None
) -> web.Response:
    flavour = state.flavour
    if asked.response_format in JSON_FORMATS:
        body = formats.json_body(
            flavour, asked.card, heard,
            verbose=asked.response_format == "verbose_json",
            language=asked.language, granularities=asked.granularities, task=asked.task,
        )  # fmt: skip
        if flavour.request_id_json is not None and rid is not None:
            body[flavour.request_id_json] = {"id": rid}
        return web.json_response(body, dumps=json_text)
    text = formats.captions(heard, asked.response_format)
    content_type = flavour.text_content_type.get(asked.response_format, "text/plain; charset=utf-8")
    return web.Response(body=text.encode(), headers={"Content-Type": content_type})


async def _audio(request: web.Request, task: str) -> web.StreamResponse:
    state = _state(request)
    flavour = state.flavour
    key, refusal = _authenticate(request, state)
    if refusal is not None:
        return refusal
    allowed, limits = state.limiter.take(key, state.clock())
    if flavour.rate_limit_headers or state.scenario.rate_limit.requests is not None:
        request[_LIMITS] = limits
    if not allowed:
        return error_response(
            flavour, 429,
            f"Rate limit reached for requests on requests per min (RPM): Limit "
            f"{limits['x-ratelimit-limit-requests']}, Used {limits['x-ratelimit-limit-requests']}, "
            f"Requested 1. Please try again in {limits['retry-after']}s.",
            type_="requests", code="rate_limit_exceeded",
        )  # fmt: skip
    size = request.content_length
    if size is not None and size > state.max_upload_bytes:
        return _too_large(state, size)
    try:
        form = await request.post()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(state, state.max_upload_bytes + 1)
    except ValueError:
        return error_response(
            flavour, 400, "The request body must be multipart/form-data", param=None
        )
    asked = read_form(flavour, list(form.items()), task)
    if isinstance(asked, web.Response):
        state.transcriptions["failed"] += 1
        return asked
    if asked.audio is not None:
        heard = state.clips.transcribe_upload(asked.audio)
        problem = _problem(state, asked.audio, heard)
        if problem is not None:
            state.transcriptions["failed"] += 1
            return problem
    else:
        heard = state.clips.transcribe_url(asked.url or "")
    endpoint = request.match_info.route.name or task
    faults = state.faults.pick(endpoint, AUDIO_ACTIONS, stackable=AUDIO_ACTIONS)
    for fault in faults:
        if fault.action == "wrong_text" and fault.text is not None:
            heard = _retext(heard, fault.text)
    slow = sum((f.delay_ms or 0) for f in faults if f.action == "slow_processing")
    await asyncio.sleep((state.scenario.processing_ms + slow) / 1000)
    state.transcriptions["answered"] += 1
    state.transcriptions["audio_ms"] += heard.duration_ms
    if asked.stream and asked.card.streams:
        return await _stream(request, state, asked, heard, faults)
    # A model that does not stream ignores `stream=true` (OpenAI's whisper-1): a plain answer.
    rid = request_id(flavour)
    response = _render(state, asked, heard, rid)
    if rid is not None:
        response.headers["x-request-id"] = rid
    return response


async def transcriptions(request: web.Request) -> web.StreamResponse:
    """``POST <prefix>/audio/transcriptions`` (multipart)."""
    return await _audio(request, "transcribe")


async def translations(request: web.Request) -> web.StreamResponse:
    """``POST <prefix>/audio/translations`` (multipart; English text out)."""
    return await _audio(request, "translate")


async def not_found(request: web.Request) -> web.StreamResponse:
    """Anything else under the prefix: the flavour's 404, as JSON."""
    flavour = _state(request).flavour
    if flavour.error_style == "detail":
        return web.json_response({"detail": "Not Found"}, status=404)
    return error_response(flavour, 404, f"Invalid URL ({request.method} {request.path})")


def add_routes(app: web.Application) -> None:
    """Register the API under the flavour's prefix ("/v1", Groq's "/openai/v1")."""
    flavour = app[STATE_KEY].flavour
    prefix = flavour.prefix
    app.router.add_get(f"{prefix}/models", list_models, name="models.list")
    if flavour.retrieve_route:
        app.router.add_get(f"{prefix}/models/{{model:.+}}", get_model, name="models.get")
    app.router.add_post(f"{prefix}/audio/transcriptions", transcriptions, name="transcriptions")
    app.router.add_post(f"{prefix}/audio/translations", translations, name="translations")
    app.router.add_route("*", f"{prefix}/{{tail:.*}}", not_found)
    app.on_response_prepare.append(_headers)
