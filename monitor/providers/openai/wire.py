"""What the OpenAI-compatible probes share on the wire: auth, the upload form, error answers."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from monitor.models import ErrorKind, ProbeTarget
from monitor.probeclip import load_clip
from monitor.probes.failures import UNREADABLE_JSON, Failure, from_status, remote_text
from monitor.probes.registry import provider
from monitor.providers.openai.quirks import API_PATH, Flavour

__all__ = ["ERROR_BODY_LIMIT", "audio_form", "auth_headers", "failure_of", "note_headers", "url"]

# An error answer is read this far: enough for any envelope, never a whole page.
ERROR_BODY_LIMIT = 16_384
CLIP_FILENAME = "probe-clip.wav"


def url(target: ProbeTarget, path: str) -> str:
    """Return the URL of API `path` ("/models") under the target's base URL."""
    return f"{target.api_base}{API_PATH}{path}"


def auth_headers(target: ProbeTarget, user_agent: str) -> dict[str, str]:
    """Return the request headers: the provider's ``Authorization: Bearer <key>``, the agent."""
    return {
        **provider(target.provider).auth_headers(target.api_key.get_secret_value()),
        "User-Agent": user_agent,
    }


def audio_form(
    model: str, response_format: str, language: str, *, stream: bool = False
) -> aiohttp.FormData:
    """Return the multipart body of a transcription of the probe clip (the SDK's layout)."""
    form = aiohttp.FormData()
    form.add_field("model", model)
    form.add_field("language", language)
    form.add_field("response_format", response_format)
    form.add_field("temperature", "0")
    if stream:
        form.add_field("stream", "true")
    # A filename with its extension: servers tell the format by it.
    form.add_field("file", load_clip().wav, filename=CLIP_FILENAME, content_type="audio/wav")
    return form


def note_headers(flavour: Flavour, headers: Any, details: dict[str, Any]) -> None:
    """Copy the headers the flavour documents (request id, rate-limit headroom) into details."""
    for name in flavour.headers_of_note:
        value = headers.get(name)
        if value is not None:
            details[name.replace("-", "_")] = remote_text(value, 64)


def failure_of(
    flavour: Flavour,
    status: int,
    body: bytes,
    *,
    during: str,
    retry_after: str | None = None,
    model: str | None = None,
) -> Failure:
    """Return what a non-200 answer means, reading the flavour's error envelope."""
    try:
        parsed = json.loads(body) if body else None
    except UNREADABLE_JSON:
        parsed = None
    message, code = flavour.api_error(parsed)
    if status in (401, 403):
        # Not echoed: OpenAI's 401 message quotes part of the key it was given.
        return from_status(status, during=during)
    # A 404 naming the model (OpenAI's code, or a self-hosted server's message) is the
    # model; any other 404 is a wrong URL (bad_response).
    named = model is not None and message is not None and model in message
    if status == 404 and (code == "model_not_found" or named):
        return Failure(
            ErrorKind.MODEL_MISSING,
            f"The API does not have the model {model!r} (HTTP 404){_while(during)}",
            {"http_status": 404, "model": model, **_said(message)},
        )
    if status == 429 and code == "insufficient_quota":
        return Failure(
            ErrorKind.RATE_LIMITED,
            f"The account's quota is used up (HTTP 429 insufficient_quota): billing, "
            f"not a passing limit{_while(during)}",
            {"http_status": 429, "api_error_code": code, **_said(message)},
        )
    if status in flavour.server_statuses:
        return Failure(
            ErrorKind.SERVER_ERROR,
            f"No capacity (HTTP {status}){_while(during)}",
            {"http_status": status, **_said(message)},
        )
    failure = from_status(status, during=during, retry_after=retry_after, api_error=message)
    if code is not None:
        failure.details["api_error_code"] = remote_text(code, 64)
    return failure


def _said(message: str | None) -> dict[str, str]:
    return {"api_error": remote_text(message)} if message else {}


def _while(during: str) -> str:
    return f" while {during}" if during else ""
