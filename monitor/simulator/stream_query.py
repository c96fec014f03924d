"""The ``/v3/ws`` connection query, validated as the AsyncAPI specs' ranges and enums say.

A value out of its range or enum is an input-validation error: the session is
accepted and closed 3006 (the SDKs' ``InputValidationError``) with a reason
that names the parameter. Parameters the specs do not list are accepted and
ignored (the SDKs send several newer ones).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

UNIVERSAL_MODELS = (
    "universal-streaming-english",
    "universal-streaming-multilingual",
    "whisper-rt",
)
U3_PRO = "u3-rt-pro"
SPEECH_MODELS = (*UNIVERSAL_MODELS, U3_PRO)
ENCODINGS = ("pcm_s16le", "pcm_mulaw")
MAX_KEYTERMS = 100
INVALID = "Invalid Query Parameter"


class QueryError(ValueError):
    """A connection parameter out of its spec; the message names it."""


@dataclass(frozen=True)
class TurnDefaults:
    """A model's turn-detection defaults (usm-streaming.yml / usm-streaming-u3-pro.yml)."""

    min_turn_silence: int
    max_turn_silence: int
    vad_threshold: float


DEFAULTS = {
    "universal": TurnDefaults(min_turn_silence=400, max_turn_silence=1280, vad_threshold=0.4),
    U3_PRO: TurnDefaults(min_turn_silence=100, max_turn_silence=1000, vad_threshold=0.3),
}


@dataclass
class StreamQuery:
    """The connection parameters a session runs with."""

    speech_model: str = UNIVERSAL_MODELS[0]
    sample_rate: int = 16000
    encoding: str = "pcm_s16le"
    format_turns: bool = False
    end_of_turn_confidence_threshold: float = 0.4
    min_turn_silence: int | None = None
    max_turn_silence: int | None = None
    vad_threshold: float | None = None
    inactivity_timeout: int | None = None
    language_detection: bool = False
    speaker_labels: bool = False
    max_speakers: int | None = None
    keyterms_prompt: list[str] = field(default_factory=list)
    prompt: str | None = None

    @property
    def u3_pro(self) -> bool:
        """Return True for the Universal-3 Pro model and its own turn semantics."""
        return self.speech_model == U3_PRO

    @property
    def turn_defaults(self) -> TurnDefaults:
        """Return the model's turn-detection defaults."""
        return DEFAULTS[U3_PRO if self.u3_pro else "universal"]


def _integer(name: str, raw: str, low: int | None = None, high: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{INVALID}: {name} must be an integer, got {raw!r}") from None
    _check_range(name, value, low, high)
    return value


def _number(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise QueryError(f"{INVALID}: {name} must be a number, got {raw!r}") from None
    if value != value:  # NaN
        raise QueryError(f"{INVALID}: {name} must be a number, got {raw!r}")
    _check_range(name, value, low, high)
    return value


def _check_range(name: str, value: float, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and not low <= value <= high:
        raise QueryError(f"{INVALID}: {name} must be between {low} and {high}, got {value}")
    if low is not None and value < low:
        raise QueryError(f"{INVALID}: {name} must be at least {low}, got {value}")


def _boolean(name: str, raw: str) -> bool:
    # The SDKs send Python's True/False or JavaScript's true/false.
    lowered = raw.lower()
    if lowered not in {"true", "false"}:
        raise QueryError(f"{INVALID}: {name} must be true or false, got {raw!r}")
    return lowered == "true"


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise QueryError(f"{INVALID}: {name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _keyterms(raw: str) -> list[str]:
    try:
        terms = json.loads(raw)
    except ValueError:
        terms = None
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise QueryError(f"{INVALID}: keyterms_prompt must be a JSON array of strings")
    if len(terms) > MAX_KEYTERMS:
        raise QueryError(
            f"{INVALID}: keyterms_prompt may hold at most {MAX_KEYTERMS} terms, got {len(terms)}"
        )
    return terms


def parse_query(query: Mapping[str, str]) -> StreamQuery:
    """Return the session's parameters, or raise ``QueryError`` naming the first bad one."""
    out = StreamQuery()
    get = query.get
    if (raw := get("speech_model")) is not None:
        out.speech_model = _choice("speech_model", raw, SPEECH_MODELS)
    if (raw := get("sample_rate")) is not None:
        out.sample_rate = _integer("sample_rate", raw, low=1)
    if (raw := get("encoding")) is not None:
        out.encoding = _choice("encoding", raw, ENCODINGS)
    for name in ("format_turns", "language_detection", "speaker_labels"):
        if (raw := get(name)) is not None:
            setattr(out, name, _boolean(name, raw))
    if (raw := get("end_of_turn_confidence_threshold")) is not None:
        out.end_of_turn_confidence_threshold = _number(
            "end_of_turn_confidence_threshold", raw, 0.0, 1.0
        )
    # The 2025 name of min_turn_silence; the SDKs map it, old clients still send it.
    for name in ("min_end_of_turn_silence_when_confident", "min_turn_silence"):
        if (raw := get(name)) is not None:
            out.min_turn_silence = _integer(name, raw, low=0)
    if (raw := get("max_turn_silence")) is not None:
        out.max_turn_silence = _integer("max_turn_silence", raw, low=0)
    if (raw := get("vad_threshold")) is not None:
        out.vad_threshold = _number("vad_threshold", raw, 0.0, 1.0)
    if (raw := get("inactivity_timeout")) is not None:
        out.inactivity_timeout = _integer("inactivity_timeout", raw, 5, 3600)
    if (raw := get("max_speakers")) is not None:
        out.max_speakers = _integer("max_speakers", raw, 1, 10)
    if (raw := get("keyterms_prompt")) is not None:
        out.keyterms_prompt = _keyterms(raw)
    out.prompt = get("prompt")
    return out
