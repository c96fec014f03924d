"""What a transcription answer looks like in each ``response_format``, and its stream events.

The words and timings come from what the simulator heard (clips.py); this
module only writes them out: ``json``, ``verbose_json`` (segments, and words
when asked), ``text``, ``srt``, ``vtt``, and the ``transcript.text.delta`` /
``transcript.text.done`` events of ``stream=true``.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from ..clips import Transcription, WordTiming
from .flavours import Flavour, ModelCard

# verbose_json's `language` is the English name where the flavour writes names.
LANGUAGE_NAMES = {
    "en": "english",
    "de": "german",
    "fr": "french",
    "es": "spanish",
    "it": "italian",
    "nl": "dutch",
    "pt": "portuguese",
    "ja": "japanese",
    "zh": "chinese",
}


def _sentences(words: tuple[WordTiming, ...]) -> list[tuple[WordTiming, ...]]:
    """Return the words cut into sentences (a word ending in . ! or ? ends one)."""
    out: list[tuple[WordTiming, ...]] = []
    current: list[WordTiming] = []
    for word in words:
        current.append(word)
        if word.text.endswith((".", "!", "?")):
            out.append(tuple(current))
            current = []
    if current:
        out.append(tuple(current))
    return out


def _tokens(text: str) -> list[int]:
    # Deterministic stand-ins for Whisper's token ids, one per word plus the two timestamps.
    ids = [int(hashlib.sha256(w.encode()).hexdigest()[:4], 16) for w in text.split()]
    return [50364, *ids, 50364 + len(ids)]


def segments(heard: Transcription) -> list[dict[str, Any]]:
    """Return verbose_json's segments: one a sentence, every field the spec requires."""
    out: list[dict[str, Any]] = []
    seek = 0
    for index, words in enumerate(_sentences(heard.words)):
        text = " " + " ".join(w.text for w in words)
        out.append(
            {
                "id": index,
                "seek": seek,
                "start": words[0].start / 1000,
                "end": words[-1].end / 1000,
                "text": text,
                "tokens": _tokens(text),
                "temperature": 0.0,
                "avg_logprob": round(math.log(max(heard.confidence, 1e-6)), 6),
                "compression_ratio": 1.2,
                "no_speech_prob": round(1 - heard.confidence, 6),
            }
        )
        seek = round(words[-1].end / 10)
    return out


def bare_word(text: str) -> str:
    """Return a word as verbose_json's `words` list writes it: without punctuation."""
    return re.sub(r"[^\w'-]", "", text)


def usage(card: ModelCard, heard: Transcription) -> dict[str, Any] | None:
    """Return the `usage` object of a JSON answer with `card`, or None for none."""
    if card.usage == "duration":
        return {"type": "duration", "seconds": max(1, math.ceil(heard.duration_ms / 1000))}
    if card.usage == "tokens":
        audio = max(1, math.ceil(heard.duration_ms / 1000 * 6))
        output = max(1, math.ceil(len(heard.text.split()) * 1.3))
        return {
            "type": "tokens",
            "input_tokens": audio,
            "input_token_details": {"text_tokens": 0, "audio_tokens": audio},
            "output_tokens": output,
            "total_tokens": audio + output,
        }
    return None


def json_body(
    flavour: Flavour,
    card: ModelCard,
    heard: Transcription,
    *,
    verbose: bool,
    language: str,
    granularities: frozenset[str],
    task: str = "transcribe",
) -> dict[str, Any]:
    """Return the ``json`` or ``verbose_json`` answer for what was heard."""
    body: dict[str, Any] = {}
    if verbose:
        if flavour.verbose_task:
            body["task"] = task
        code = "en" if task == "translate" else language
        body["language"] = (
            LANGUAGE_NAMES.get(code, code) if flavour.verbose_language == "name" else code
        )
        body["duration"] = heard.duration_ms / 1000
    body["text"] = heard.text
    if verbose:
        if "word" in granularities:
            body["words"] = [
                {"word": bare_word(w.text), "start": w.start / 1000, "end": w.end / 1000}
                for w in heard.words
            ]
        elif flavour.verbose_language == "code":
            body["words"] = None  # a self-hosted server writes the key out empty
        if "segment" in granularities:
            body["segments"] = segments(heard)
    spent = usage(card, heard)
    if spent is not None:
        body["usage"] = spent
    return body


def _stamp(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def captions(heard: Transcription, kind: str) -> str:
    """Return the ``text``, ``srt`` or ``vtt`` answer (one caption a sentence)."""
    if kind == "text":
        return heard.text + "\n"
    blocks: list[str] = []
    sep = "," if kind == "srt" else "."
    for index, words in enumerate(_sentences(heard.words), start=1):
        span = f"{_stamp(words[0].start, sep)} --> {_stamp(words[-1].end, sep)}"
        line = " ".join(w.text for w in words)
        blocks.append(f"{index}\n{span}\n{line}\n" if kind == "srt" else f"{span}\n{line}\n")
    head = "WEBVTT\n\n" if kind == "vtt" else ""
    return head + "\n".join(blocks) + "\n"


def stream_deltas(flavour: Flavour, heard: Transcription) -> list[str]:
    """Return the text of each ``transcript.text.delta``: a word each, or a sentence each."""
    if flavour.stream_per == "segment":
        return [" " + " ".join(w.text for w in s) for s in _sentences(heard.words)]
    return [w.text if i == 0 else " " + w.text for i, w in enumerate(heard.words)]


def done_event(card: ModelCard, heard: Transcription) -> dict[str, Any]:
    """Return the closing ``transcript.text.done`` event."""
    event: dict[str, Any] = {"type": "transcript.text.done", "text": heard.text}
    spent = usage(card, heard)
    if spent is not None and spent["type"] == "tokens":
        event["usage"] = spent
    return event
