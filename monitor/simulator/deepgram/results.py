"""The JSON Deepgram answers with: pre-recorded responses, streaming Results and Metadata.

Every field the spec marks required is always there (the SDK parses frames by
``type`` and leaves missing fields ``None`` silently), ``is_final``,
``speech_final`` and ``from_finalize`` too. A pre-recorded result never has a
top-level ``request_id``: the SDK would read it as the callback's "accepted" answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..clips import WordTiming, normalise_word

# A fixed model per name, so answers are reproducible; unknown names get the nova-3 one.
MODEL_UUID = "2187e11a-3532-4498-b076-81fa530bdd49"
MODEL_VERSION = "2025-01-01.0"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_PUNCTUATION = re.compile(r"[^\w\s'-]")


def created_now() -> str:
    """Return the current time as Deepgram writes it: ISO 8601, milliseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def model_info(model: str) -> dict[str, str]:
    """Return the flat ``{name, version, arch}`` of the model a request named."""
    arch = model.split("-general")[0] if model else "nova-3"
    return {"name": f"general-{arch}", "version": MODEL_VERSION, "arch": arch}


def _shown(token: str, formatted: bool) -> str:
    """Return how a word reads in a transcript: as spoken, or lower-case and bare."""
    return token if formatted else _PUNCTUATION.sub("", token).lower()


def words_json(words: Iterable[WordTiming], formatted: bool) -> list[dict[str, Any]]:
    """Return Deepgram's ``words[]``: bare lower-case ``word``, seconds, ``punctuated_word``."""
    out: list[dict[str, Any]] = []
    for w in words:
        item: dict[str, Any] = {
            "word": normalise_word(w.text),
            "start": w.start / 1000,
            "end": w.end / 1000,
            "confidence": w.confidence,
        }
        if formatted:
            item["punctuated_word"] = w.text
        out.append(item)
    return out


def alternative(words: list[WordTiming], formatted: bool) -> dict[str, Any]:
    """Return one ``alternatives[]`` entry: transcript, mean confidence and words."""
    transcript = " ".join(_shown(w.text, formatted) for w in words)
    confidence = round(sum(w.confidence for w in words) / len(words), 6) if words else 0.0
    return {
        "transcript": transcript,
        "confidence": confidence,
        "words": words_json(words, formatted),
    }


def prerecorded(
    *,
    request_id: str,
    sha256: str,
    duration_ms: int,
    words: list[WordTiming],
    model: str,
    formatted: bool,
    tags: list[str],
) -> dict[str, Any]:
    """Return the 200 body of a synchronous ``POST /v1/listen``."""
    metadata: dict[str, Any] = {
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": created_now(),
        "duration": duration_ms / 1000,
        "channels": 1,
        "models": [MODEL_UUID],
        "model_info": {MODEL_UUID: model_info(model)},
    }
    if tags:
        metadata["tags"] = tags
    return {
        "metadata": metadata,
        "results": {"channels": [{"alternatives": [alternative(words, formatted)]}]},
    }


def results_frame(
    *,
    request_id: str,
    model: str,
    start_ms: float,
    end_ms: float,
    words: list[WordTiming],
    formatted: bool,
    is_final: bool,
    speech_final: bool = False,
    from_finalize: bool = False,
    channels: int = 1,
) -> dict[str, Any]:
    """Return one streaming ``Results`` message for the audio window ``[start_ms, end_ms)``."""
    return {
        "type": "Results",
        "channel_index": [0, channels],
        "duration": round(max(0.0, end_ms - start_ms) / 1000, 3),
        "start": round(start_ms / 1000, 3),
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {"alternatives": [alternative(words, formatted)]},
        "metadata": {
            "request_id": request_id,
            "model_info": model_info(model),
            "model_uuid": MODEL_UUID,
        },
    }


def metadata_frame(
    *, request_id: str, sha256: str, created: str, duration_ms: float, channels: int, model: str
) -> dict[str, Any]:
    """Return the ``Metadata`` message sent after ``CloseStream``, just before the close."""
    return {
        "type": "Metadata",
        "transaction_key": "deprecated",
        "request_id": request_id,
        "sha256": sha256,
        "created": created,
        "duration": round(duration_ms / 1000, 3),
        "channels": channels,
        "models": [MODEL_UUID],
        "model_info": {MODEL_UUID: model_info(model)},
    }


def query_list(query: Mapping[str, str], name: str) -> list[str]:
    """Return every value of a repeated query key (``tag=a&tag=b``)."""
    getall = getattr(query, "getall", None)
    return list(getall(name, [])) if getall is not None else []
