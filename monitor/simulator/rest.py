"""REST v2: upload, create, get, list and delete transcripts, their exports, plus HTTP faults."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from . import exports, webhooks
from .clips import Transcription, align_words, read_wav
from .downloads import download, download_error, http_error
from .http_faults import STACKABLE, apply
from .params import validate_create_body
from .scenario import DELETE_ACTIONS, HTTP_ACTIONS, HTTP_ENDPOINTS, JOB_ACTIONS, Fault
from .state import SimState, Upload
from .transcripts import LOOKUP_ERROR, Job

STATE_KEY: web.AppKey[SimState] = web.AppKey("sim_state", SimState)

AUTH_ERROR = "Authentication error, API token missing/invalid"
MIN_AUDIO_MS = 160
STATUSES = ("queued", "processing", "completed", "error")

# Documented error strings per status (docs/protocol-assemblyai.md §1.2); 503/504 have no body.
DEFAULT_ERROR_BODIES = {
    400: "Bad request",
    401: AUTH_ERROR,
    403: "Cannot access uploaded file",
    404: "Not found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_UPLOAD_PATH = re.compile(r"/upload/([0-9a-f-]{36})$")


def error_response(status: int, message: str) -> web.Response:
    """Return a JSON ``{"error": message}`` response with ``status``."""
    return web.json_response({"error": message}, status=status)


def too_large(limit: int) -> web.Response:
    """Return the JSON 413 for a request body over ``limit`` bytes."""
    return error_response(
        413, f"Request body too large: the simulator accepts at most {limit} bytes"
    )


@web.middleware
async def body_too_large(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer a body over the limit with a JSON 413 like every other error, not aiohttp's text."""
    try:
        return await handler(request)
    except web.HTTPRequestEntityTooLarge:
        return too_large(request.app[STATE_KEY].scenario.max_upload_bytes)


def base_url(request: web.Request) -> str:
    """Return the scheme://host the client used to reach the simulator."""
    return f"{request.scheme}://{request.host}"


def authorized_key(request: web.Request, state: SimState) -> str | None:
    """Return the request's API key if it is an accepted one."""
    key = request.headers.get("Authorization")
    return key if key in state.api_keys else None


def fault_response(fault: Fault) -> web.Response:
    """Return the response a ``status`` or ``refuse`` fault prescribes."""
    status = fault.status if fault.status is not None else 503
    headers = dict(fault.headers or {})
    if status == 429:
        headers.setdefault("Retry-After", "5")
    body = fault.body
    if body is None:
        default = DEFAULT_ERROR_BODIES.get(status)
        if default is None and 400 <= status < 500:
            default = web.Response(status=status).reason
        body = {"error": default} if default is not None else ""
    if isinstance(body, dict | list):
        return web.json_response(body, status=status, headers=headers)
    if body == "":
        return web.Response(status=status, headers=headers)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = (
            "text/html" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
        )
    return web.Response(status=status, text=body, headers=headers)


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
    return await apply(request, handler, fired, state.closing, fault_response)


def _audio_problem(data: bytes, transcription: Transcription) -> str | None:
    """Return the job error a real service reports for these bytes, if any."""
    if read_wav(data) is None:
        try:
            text = data[:2048].decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is not None and text.strip() and all(c.isprintable() or c.isspace() for c in text):
            kind = (
                "text/html (HTML document)"
                if text.lstrip().startswith("<")
                else ("text/plain (ASCII text)")
            )
            return f"File does not appear to contain audio. File type is {kind}."
    if transcription.duration_ms < MIN_AUDIO_MS:
        return "Audio duration is too short."
    return None


def _owned_job(request: web.Request, state: SimState) -> Job | web.Response:
    """Return the caller's job named in the path, or the 401/400/404 answer instead."""
    key = authorized_key(request, state)
    if key is None:
        return error_response(401, AUTH_ERROR)
    job = state.jobs.get(request.match_info["transcript_id"])
    if job is None or job.owner != key:
        if state.scenario.unknown_id_status == 404:
            return error_response(404, "Not found")
        return error_response(400, LOOKUP_ERROR)
    return job


def _apply_job_faults(job: Job, faults: list[Fault], now: float) -> None:
    for fault in faults:
        if fault.action == "stuck":
            current = job.status(now)
            # A job seen processing cannot be sent back to the queue.
            job.stuck_stage = "processing" if current == "processing" else fault.stage
        elif fault.action == "fail_job":
            job.job_error = fault.error
        elif fault.action == "wrong_text" and fault.text is not None:
            if job.fetching:
                job.pending_text = fault.text  # applied once the audio has arrived
            else:
                _replace_text(job, fault.text)


def _replace_text(job: Job, text: str) -> None:
    """Make the job hear ``text``, re-timed over the span of what it heard."""
    old = job.transcription
    duration = old.duration_ms if old is not None else 3000
    span = (old.words[0].start, old.words[-1].end) if old and old.words else (0, duration)
    job.transcription = Transcription(text, align_words(text, span, text.encode()), duration)


async def _fetch_audio(job: Job, url: str, state: SimState) -> None:
    """Download the job's audio in the background and settle what it hears."""
    try:
        result = await download(state.outbound.session(), url, state.scenario.audio_fetch)
        if isinstance(result, str):
            problem: str | None = result
        else:
            job.audio = result
            job.transcription = state.clips.transcribe_upload(result)
            problem = _audio_problem(result, job.transcription)
        # A fail_job fault drawn meanwhile keeps its own error.
        if job.job_error is None:
            job.job_error = problem
        if job.pending_text is not None:
            _replace_text(job, job.pending_text)
    finally:
        job.fetched_mono = state.clock()
        job.fetching = False


async def upload(request: web.Request) -> web.StreamResponse:
    """Store raw bytes and return their ``upload_url``."""
    state = request.app[STATE_KEY]
    key = authorized_key(request, state)
    # Before reading the body: a stranger must not make the simulator buffer it.
    if key is None:
        return error_response(401, AUTH_ERROR)
    limit = state.scenario.max_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        return too_large(limit)  # without waiting for the bytes
    data = await request.read()  # a chunked body over the limit: 413 (body_too_large)
    upload_id = str(uuid.uuid4())
    state.uploads[upload_id] = Upload(upload_id, key, data)
    return web.json_response({"upload_url": f"{base_url(request)}/upload/{upload_id}"})


async def uploaded_file(request: web.Request) -> web.StreamResponse:
    """Deny direct downloads of uploads, as the real CDN does."""
    return web.Response(status=403, text="Access denied", content_type="text/plain")


async def create_transcript(request: web.Request) -> web.StreamResponse:
    """Validate a job request and return the queued Transcript."""
    state = request.app[STATE_KEY]
    key = authorized_key(request, state)
    if key is None:
        return error_response(401, AUTH_ERROR)
    try:
        body = json.loads(await request.read() or b"null")
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "Request body must be valid JSON")
    problem = validate_create_body(body)
    if problem is not None:
        return error_response(400, problem)
    url: str = body["audio_url"]
    transcription: Transcription | None = None
    job_error: str | None = None
    upload_id: str | None = None
    match = _UPLOAD_PATH.search(url)
    if match is not None and match.group(1) in state.uploads:
        upload_id = match.group(1)
        stored = state.uploads[upload_id]
        if stored.owner != key:
            job_error = http_error(url, 403, "Forbidden")
        elif stored.deleted:
            job_error = download_error(url)
        else:
            transcription = state.clips.transcribe_upload(stored.data)
            job_error = _audio_problem(stored.data, transcription)
    elif match is not None or not url.startswith(("http://", "https://")):
        job_error = download_error(url)
    elif not state.scenario.audio_fetch.enabled:
        transcription = state.clips.transcribe_url(url)
    fetch = transcription is None and job_error is None
    now = state.clock()
    state.job_sequence += 1
    timing = state.scenario.jobs
    job = Job(
        id=str(uuid.uuid4()),
        owner=key,
        params=body,
        created_mono=now,
        created_wall=datetime.now(UTC).replace(tzinfo=None),  # the API shows naive UTC
        queued_ms=timing.queued_ms,
        processing_ms=timing.processing_ms,
        transcription=transcription,
        job_error=job_error,
        upload_id=upload_id,
        sequence=state.job_sequence,
        audio=state.uploads[upload_id].data if upload_id is not None else None,
        fetching=fetch,
    )
    state.jobs[job.id] = job
    if fetch:
        job.download = state.outbound.spawn(_fetch_audio(job, url, state))
    _apply_job_faults(job, state.faults.pick("transcript.create", JOB_ACTIONS, JOB_ACTIONS), now)
    webhooks.schedule(job, state)
    return web.json_response(job.to_json(now))


async def get_transcript(request: web.Request) -> web.StreamResponse:
    """Return the Transcript as it stands now."""
    state = request.app[STATE_KEY]
    found = _owned_job(request, state)
    if isinstance(found, web.Response):
        return found
    now = state.clock()
    if not found.terminal_seen and not found.deleted:
        picked = state.faults.pick("transcript.get", JOB_ACTIONS, JOB_ACTIONS)
        _apply_job_faults(found, picked, now)
    if found.is_terminal(now):
        # Once a client has seen the outcome it never changes again.
        found.terminal_seen = True
    return web.json_response(found.to_json(now))


async def delete_transcript(request: web.Request) -> web.StreamResponse:
    """Scrub a transcript (and its upload) and return the scrubbed object."""
    state = request.app[STATE_KEY]
    found = _owned_job(request, state)
    if isinstance(found, web.Response):
        return found
    now = state.clock()
    if state.faults.pick("transcript.delete", DELETE_ACTIONS):
        # ignore_delete: looks like a deletion, keeps every byte.
        return web.json_response(found.scrubbed_json(now))
    if not found.deleted and not found.is_terminal(now):
        if state.scenario.jobs.delete_in_progress == "reject":
            return error_response(
                400, "Transcript is still being processed and cannot be deleted yet"
            )
        found.frozen_status = found.status(now)
    found.deleted = True
    found.terminal_seen = True
    if found.upload_id is not None and found.upload_id in state.uploads:
        stored = state.uploads[found.upload_id]
        stored.deleted = True
        stored.data = b""
    found.audio = None
    return web.json_response(found.to_json(now))


def _list_error(message: str) -> web.Response:
    return error_response(400, message)


async def list_transcripts(request: web.Request) -> web.StreamResponse:
    """Return one page of the key's transcripts, newest first, with page_details."""
    state = request.app[STATE_KEY]
    key = authorized_key(request, state)
    if key is None:
        return error_response(401, AUTH_ERROR)
    query = request.query
    limit = 10
    if "limit" in query:
        try:
            limit = int(query["limit"])
        except ValueError:
            return _list_error('"limit" must be a number')
        if limit < 1:
            return _list_error('"limit" must be greater than or equal to 1')
        if limit > 200:
            return _list_error('"limit" must be less than or equal to 200')
    status = query.get("status")
    if status is not None and status not in STATUSES:
        return _list_error('"status" must be one of [queued, processing, completed, error]')
    created_on: date | None = None
    if "created_on" in query:
        try:
            created_on = date.fromisoformat(query["created_on"])
        except ValueError:
            return _list_error('"created_on" must be a valid date (YYYY-MM-DD)')
    throttled_only = query.get("throttled_only", "false").lower() == "true"
    own = sorted(
        (job for job in state.jobs.values() if job.owner == key),
        key=lambda job: job.sequence,
        reverse=True,
    )
    by_id = {job.id: job for job in own}
    bounds: dict[str, int] = {}
    for name in ("before_id", "after_id"):
        if name in query:
            bound = by_id.get(query[name])
            if bound is None:
                return _list_error(LOOKUP_ERROR)
            bounds[name] = bound.sequence
    if "before_id" in bounds and "after_id" in bounds and bounds["after_id"] >= bounds["before_id"]:
        return _list_error("'after_id' must be a newer transcript than 'before_id'")
    now = state.clock()
    selected = []
    for job in own:
        if "before_id" in bounds and job.sequence >= bounds["before_id"]:
            continue
        if "after_id" in bounds and job.sequence <= bounds["after_id"]:
            continue
        if throttled_only:
            continue  # the simulator never throttles
        if status is not None and job.status(now) != status:
            continue
        if created_on is not None and job.created_wall.date() != created_on:
            continue
        selected.append(job)
    if "after_id" in bounds and "before_id" not in bounds:
        # Paging towards newer items: the page closest to after_id.
        page = selected[-limit:]
    else:
        page = selected[:limit]
    root = base_url(request)
    path = f"{root}/v2/transcript"
    prev_url = next_url = None
    if page:
        prev_url = f"{path}?limit={limit}&before_id={page[-1].id}"
        next_url = f"{path}?limit={limit}&after_id={page[0].id}"
    return web.json_response(
        {
            "page_details": {
                "limit": limit,
                "result_count": len(page),
                "current_url": f"{root}{request.rel_url}",
                "prev_url": prev_url,
                "next_url": next_url,
            },
            "transcripts": [job.list_item(root, now) for job in page],
        }
    )


def _completed(request: web.Request, state: SimState) -> Job | web.Response:
    """Return the caller's completed job named in the path, or the error answer instead."""
    found = _owned_job(request, state)
    if isinstance(found, web.Response):
        return found
    status = found.status(state.clock())
    if found.deleted:
        return error_response(400, f"Transcript {found.id} has been deleted")
    if status != "completed":
        return error_response(400, f"Transcript {found.id} is not completed (status: {status})")
    return found


def _export_head(job: Job) -> dict[str, Any]:
    tr = job.transcription
    return {
        "id": job.id,
        "confidence": tr.confidence if tr is not None else 0.0,
        "audio_duration": round(tr.duration_ms / 1000) if tr is not None else 0,
    }


def _split_handler(
    key: str, split: Callable[[list[exports.Word]], list[dict[str, Any]]]
) -> Handler:
    """Return the handler of an export that splits the words into ``key`` (sentences, ...)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        found = _completed(request, request.app[STATE_KEY])
        if isinstance(found, web.Response):
            return found
        return web.json_response({**_export_head(found), key: split(found.result_words())})

    handler.__doc__ = f"Return the completed transcript split into {key}."
    return handler


get_sentences = _split_handler("sentences", exports.sentences)
get_paragraphs = _split_handler("paragraphs", exports.paragraphs)


async def get_subtitles(request: web.Request) -> web.StreamResponse:
    """Return the completed transcript as SRT or VTT captions."""
    found = _completed(request, request.app[STATE_KEY])
    if isinstance(found, web.Response):
        return found
    chars: int | None = None
    if "chars_per_caption" in request.query:
        raw = request.query["chars_per_caption"]
        try:
            chars = int(raw)
        except ValueError:
            return error_response(400, f'"chars_per_caption" must be a number (got "{raw}")')
        if chars < 1:
            return error_response(400, '"chars_per_caption" must be greater than or equal to 1')
    render = exports.srt if request.match_info["subtitle_format"] == "srt" else exports.vtt
    return web.Response(text=render(found.result_words(), chars), content_type="text/plain")


async def search_words(request: web.Request) -> web.StreamResponse:
    """Return where each of the comma-separated ``words`` occurs in the transcript."""
    found = _completed(request, request.app[STATE_KEY])
    if isinstance(found, web.Response):
        return found
    terms = [t.strip() for t in request.query.get("words", "").split(",") if t.strip()]
    if not terms:
        return error_response(400, '"words" is required (comma-separated words to search for)')
    result = exports.word_search(found.result_words(), terms)
    return web.json_response({"id": found.id, **result})


REDACTION_NOT_REQUESTED = (
    "Redacted audio is not available: the transcript was not created with "
    "redact_pii: true and redact_pii_audio: true"
)


async def get_redacted_audio(request: web.Request) -> web.StreamResponse:
    """Return the redacted audio's URL (202 while the job runs, 400 if never asked for)."""
    state = request.app[STATE_KEY]
    found = _owned_job(request, state)
    if isinstance(found, web.Response):
        return found
    params = found.params
    if not (params.get("redact_pii") and params.get("redact_pii_audio")):
        return error_response(400, REDACTION_NOT_REQUESTED)
    status = found.status(state.clock())
    if status in {"queued", "processing"}:
        # The SDK reads 202 as "not ready yet" (the spec lists only 200).
        return web.json_response({"status": "redacted_audio_processing"}, status=202)
    if status != "completed" or found.deleted or found.audio is None:
        return error_response(400, f"Redacted audio for transcript {found.id} is not available")
    return web.json_response(
        {
            "status": "redacted_audio_ready",
            "redacted_audio_url": f"{base_url(request)}/redacted-audio/{found.id}",
        }
    )


async def redacted_audio_file(request: web.Request) -> web.StreamResponse:
    """Serve a redacted audio file (no auth: the real one is a pre-signed URL)."""
    state = request.app[STATE_KEY]
    job = state.jobs.get(request.match_info["transcript_id"])
    if job is None or job.audio is None or job.deleted:
        return web.Response(status=404, text="Not found", content_type="text/plain")
    kind = "audio/wav" if read_wav(job.audio) is not None else "application/octet-stream"
    return web.Response(body=job.audio, content_type=kind)


async def unknown_route(request: web.Request) -> web.StreamResponse:
    """Answer any other path under /v2/ as the API does: JSON, not a bare 404 page."""
    return error_response(404, "Not found")


async def _close_outbound(app: web.Application) -> None:
    await app[STATE_KEY].outbound.close()


def add_routes(app: web.Application) -> None:
    """Register the REST v2 routes on ``app``."""
    app.router.add_post("/v2/upload", upload, name="upload")
    app.router.add_post("/v2/transcript", create_transcript, name="transcript.create")
    app.router.add_get("/v2/transcript", list_transcripts, name="transcript.list")
    app.router.add_get("/v2/transcript/{transcript_id}", get_transcript, name="transcript.get")
    app.router.add_delete(
        "/v2/transcript/{transcript_id}", delete_transcript, name="transcript.delete"
    )
    app.router.add_get("/upload/{upload_id}", uploaded_file, name="uploaded_file")
    one = "/v2/transcript/{transcript_id}"
    app.router.add_get(f"{one}/sentences", get_sentences, name="transcript.sentences")
    app.router.add_get(f"{one}/paragraphs", get_paragraphs, name="transcript.paragraphs")
    app.router.add_get(
        f"{one}/{{subtitle_format:srt|vtt}}", get_subtitles, name="transcript.subtitles"
    )
    app.router.add_get(f"{one}/word-search", search_words, name="transcript.word_search")
    app.router.add_get(
        f"{one}/redacted-audio", get_redacted_audio, name="transcript.redacted_audio"
    )
    app.router.add_get("/redacted-audio/{transcript_id}", redacted_audio_file)
    # Last, so it only catches what no route above matched.
    app.router.add_route("*", "/v2/{tail:.*}", unknown_route, name="v2.unknown")
    app.on_shutdown.append(_close_outbound)
