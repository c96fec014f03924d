"""Reading a transcription's multipart form as the flavour's server would, first error wins."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from .flavours import ALL_FORMATS, AUDIO_EXTENSIONS, JSON_FORMATS, Flavour, ModelCard
from .replies import error_response

_LANGUAGE = re.compile(r"^[a-z]{2}$")
_GRANULARITIES = frozenset({"word", "segment"})
# Magic numbers of audio a file without an extension may still be recognised by.
_MAGIC = (b"RIFF", b"ID3", b"\xff\xfb", b"\xff\xf3", b"fLaC", b"OggS", b"\x1aE\xdf\xa3")


@dataclass(frozen=True, slots=True)
class AudioRequest:
    """A valid transcription (or translation) request."""

    card: ModelCard
    audio: bytes | None  # None: Groq's `url` input
    url: str | None
    response_format: str
    language: str
    granularities: frozenset[str]
    stream: bool
    task: str


def _bad(
    flavour: Flavour, message: str, param: str | None, code: str | None = None
) -> web.Response:
    return error_response(flavour, 400, message, param=param, code=code)


def _file_ok(name: str, data: bytes) -> bool:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext:
        return ext in AUDIO_EXTENSIONS
    return data.startswith(_MAGIC)


def model_missing(flavour: Flavour, model: str) -> web.Response:
    """Return the 404 of a model the server does not have."""
    if flavour.error_style == "detail":
        message = (
            f"Model '{model}' is not installed locally. "
            "You can download the model using `POST /v1/models`"
        )
    else:
        message = f"The model `{model}` does not exist or you do not have access to it."
    return error_response(flavour, 404, message, code="model_not_found")


FormItems = list[tuple[str, str | bytes | bytearray | web.FileField]]


def read_form(flavour: Flavour, form: FormItems, task: str) -> AudioRequest | web.Response:
    """Return the request `form` (its parts, in order) describes, or the 400/404 instead."""
    if flavour.fields is not None:
        for name, _ in form:
            # Arrays come as `name[]`, objects as `name[key]` (the SDK's layout).
            if name.partition("[")[0] not in flavour.fields:
                return _bad(flavour, f"Unrecognized request argument supplied: {name}", name)
    text = {k: v for k, v in form if isinstance(v, str)}
    model = text.get("model", "")
    if not model:
        return _bad(flavour, "you must provide a model parameter", "model")
    upload = next((v for k, v in form if k == "file"), None)
    url = text.get("url") if flavour.url_input else None
    if not isinstance(upload, web.FileField) and url is None:
        return _bad(flavour, "you must provide a file", "file")
    card = flavour.model(model)
    if card is None:
        return model_missing(flavour, model)
    if not card.formats or (task == "translate" and not card.translates):
        what = "translation" if task == "translate" else "transcription"
        return _bad(flavour, f"The model `{model}` does not support audio {what}.", "model")
    response_format = text.get("response_format", "json")
    if response_format not in ALL_FORMATS:
        listed = ", ".join(f"'{f}'" for f in sorted(ALL_FORMATS))
        return _bad(
            flavour, f"'{response_format}' is not one of [{listed}] - 'response_format'",
            "response_format",
        )  # fmt: skip
    if response_format not in card.formats:
        allowed = " or ".join(f"'{f}'" for f in sorted(card.formats))
        return _bad(
            flavour,
            f"response_format '{response_format}' is not compatible with model '{model}'. "
            f"Use {allowed}.",
            "response_format",
            "unsupported_value",
        )
    try:
        temperature = float(text.get("temperature", "0"))
    except ValueError:
        temperature = -1.0
    if not 0 <= temperature <= 1:
        return _bad(flavour, "temperature must be a number between 0 and 1", "temperature")
    language = text.get("language", "en") or "en"
    if not _LANGUAGE.match(language):
        return _bad(
            flavour,
            f"Invalid language '{language}'. Language parameter must be specified in "
            "ISO-639-1 format.",
            "language",
        )
    granularities = frozenset(
        v for k, v in form if k == "timestamp_granularities[]" and isinstance(v, str)
    )
    if granularities - _GRANULARITIES:
        return _bad(flavour, "timestamp_granularities must be 'word' or 'segment'",
                    "timestamp_granularities")  # fmt: skip
    if granularities and response_format != "verbose_json":
        return _bad(
            flavour,
            "timestamp_granularities requires response_format=verbose_json",
            "timestamp_granularities",
        )
    stream = text.get("stream", "false").lower() == "true"
    audio: bytes | None = None
    if isinstance(upload, web.FileField):
        audio = upload.file.read()
        if not _file_ok(upload.filename or "", audio):
            listed = ", ".join(f"'{e}'" for e in AUDIO_EXTENSIONS)
            return _bad(flavour, f"Invalid file format. Supported formats: [{listed}]", None)
    return AudioRequest(
        card=card,
        audio=audio,
        url=url if audio is None else None,
        response_format=response_format,
        language=language,
        granularities=granularities or frozenset({"segment"}),
        stream=stream and response_format in JSON_FORMATS,
        task=task,
    )
