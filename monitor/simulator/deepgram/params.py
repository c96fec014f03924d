"""The query parameters of ``/v1/listen`` (pre-recorded and live) and how they are checked.

Booleans must be ``true`` or ``false`` in lower case: the service refuses
``False`` with 400 ``INVALID_QUERY_PARAMETER`` (``strict_booleans: false`` in
the scenario accepts any case). Unknown parameters are ignored, since real
clients send some (``no_delay``). The error wording follows the documented
"Failed to deserialize query parameters: ..." body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SHARED_BOOLEANS = frozenset(
    {
        "smart_format",
        "punctuate",
        "diarize",
        "numerals",
        "dictation",
        "profanity_filter",
        "multichannel",
        "detect_entities",
        "filler_words",
        "mip_opt_out",
    }
)
PRERECORDED_BOOLEANS = SHARED_BOOLEANS | {
    "utterances",
    "paragraphs",
    "measurements",
    "topics",
    "intents",
    "sentiment",
}
LIVE_BOOLEANS = SHARED_BOOLEANS | {"interim_results", "vad_events", "no_delay"}
PRERECORDED_ENCODINGS = frozenset(
    {"linear16", "flac", "mulaw", "amr-nb", "amr-wb", "opus", "speex", "g729"}
)
LIVE_ENCODINGS = PRERECORDED_ENCODINGS | {"linear32", "alaw", "ogg-opus"}
# What the simulator can hear of headerless audio (hearing.py's names).
HEARD_ENCODINGS = {"linear16": "pcm_s16le", "mulaw": "pcm_mulaw"}


class QueryError(ValueError):
    """A query parameter the service would refuse with 400 INVALID_QUERY_PARAMETER."""


def _flag(query: Mapping[str, str], name: str, strict: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return False
    value = raw if strict else raw.lower()
    if value not in ("true", "false"):
        raise QueryError(
            f"Failed to deserialize query parameters: {name}: provided string was not "
            f"`true` or `false` (got {raw!r})"
        )
    return value == "true"


def _number(query: Mapping[str, str], name: str, low: int) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(
            f"Failed to deserialize query parameters: {name}: invalid digit found in string"
        ) from None
    if value < low:
        raise QueryError(f"Failed to deserialize query parameters: {name} must be >= {low}")
    return value


def _check_booleans(query: Mapping[str, str], names: frozenset[str], strict: bool) -> set[str]:
    return {name for name in names if _flag(query, name, strict)}


@dataclass(frozen=True, slots=True)
class ListenQuery:
    """What the simulator reads of a pre-recorded request's query."""

    model: str
    flags: frozenset[str]  # the booleans set to true
    encoding: str | None
    callback: str | None
    callback_method: str

    @property
    def formatted(self) -> bool:
        """Return True when the transcript is punctuated and capitalised."""
        return bool({"punctuate", "smart_format"} & self.flags)


def parse_listen(query: Mapping[str, str], strict: bool) -> ListenQuery:
    """Return a pre-recorded request's query, or raise QueryError."""
    flags = _check_booleans(query, PRERECORDED_BOOLEANS, strict)
    encoding = query.get("encoding")
    if encoding is not None and encoding not in PRERECORDED_ENCODINGS:
        raise QueryError(f"Failed to deserialize query parameters: unknown encoding {encoding!r}")
    callback = query.get("callback")
    if callback is not None and urlsplit(callback).scheme not in ("http", "https"):
        raise QueryError("Invalid callback url.")
    method = query.get("callback_method", "POST").upper()
    if method not in ("POST", "PUT"):
        raise QueryError("Failed to deserialize query parameters: callback_method: POST or PUT")
    return ListenQuery(
        model=query.get("model", "base-general"),
        flags=frozenset(flags),
        encoding=encoding,
        callback=callback,
        callback_method=method,
    )


@dataclass(frozen=True, slots=True)
class LiveQuery:
    """What the simulator reads of a streaming handshake's query."""

    model: str
    flags: frozenset[str]
    encoding: str | None  # None: containerised audio, read from its header
    sample_rate: int | None
    channels: int
    endpointing_ms: int | None  # None: endpointing disabled
    utterance_end_ms: int | None

    @property
    def formatted(self) -> bool:
        """Return True when transcripts are punctuated and capitalised."""
        return bool({"punctuate", "smart_format"} & self.flags)

    @property
    def interim_results(self) -> bool:
        """Return True when the client asked for interim Results."""
        return "interim_results" in self.flags


def parse_live(query: Mapping[str, str], strict: bool) -> LiveQuery:
    """Return a streaming handshake's query, or raise QueryError."""
    flags = _check_booleans(query, LIVE_BOOLEANS, strict)
    encoding = query.get("encoding")
    if encoding is not None and encoding not in LIVE_ENCODINGS:
        raise QueryError(f"Failed to deserialize query parameters: unknown encoding {encoding!r}")
    sample_rate = _number(query, "sample_rate", 8000)
    if encoding is not None and sample_rate is None:
        raise QueryError("sample_rate is required when encoding is set")
    raw_endpointing = query.get("endpointing")
    endpointing: int | None = 10
    if raw_endpointing is not None:
        endpointing = None if raw_endpointing == "false" else _number(query, "endpointing", 0)
    utterance_end = _number(query, "utterance_end_ms", 0)
    if utterance_end is not None and "interim_results" not in flags:
        raise QueryError("utterance_end_ms requires interim_results=true")
    return LiveQuery(
        model=query.get("model", "base-general"),
        flags=frozenset(flags),
        encoding=encoding,
        sample_rate=sample_rate if encoding is not None else None,
        channels=_number(query, "channels", 1) or 1,
        endpointing_ms=endpointing,
        utterance_end_ms=utterance_end,
    )
