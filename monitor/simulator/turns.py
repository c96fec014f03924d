"""Turn detection: which ``Turn`` (and ``SpeechStarted``) messages the words heard so far call for.

Two models, as the AsyncAPI specs describe them:

- **Universal-Streaming** (``universal-streaming-*``, ``whisper-rt``): partials
  grow with the audio; ``transcript`` holds the final words and ``words`` adds
  the trailing provisional one. A turn ends when the end-of-turn confidence
  exceeds ``end_of_turn_confidence_threshold`` after ``min_turn_silence`` ms of
  silence, or after ``max_turn_silence`` ms regardless. ``format_turns`` adds
  a formatted copy of each end of turn.
- **Universal-3 Pro** (``u3-rt-pro``): ``SpeechStarted`` before a turn's first
  Turn; a partial only in a pause of ``min_turn_silence`` ms (one per pause),
  its words all ``word_is_final: false`` and its confidence 0; the turn ends in
  such a pause if its last word ends a sentence, or after ``max_turn_silence``
  ms regardless. The end of turn is formatted, with confidence 1.

The confidence model is simple: a last word ending a sentence (``.?!``) gives
0.9, any other 0.3, scaled by how much of ``min_turn_silence`` has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clips import WordTiming, normalise_word

SENTENCE_END = (".", "?", "!")
CONFIDENT = 0.9
UNSURE = 0.3
SPEECH_CONFIDENCE = 0.98
LANGUAGE = ("en", 0.99)
# Turns shorter than this get the speaker label UNKNOWN (usm-streaming-u3-pro.yml).
SPEAKER_MIN_MS = 1000


@dataclass
class TurnSettings:
    """What the session's query (and later UpdateConfiguration) asked for."""

    u3_pro: bool
    format_turns: bool
    threshold: float
    min_turn_silence: int
    max_turn_silence: int
    language_detection: bool = False
    speaker_labels: bool = False


def _ends_sentence(word: WordTiming) -> bool:
    return word.text.endswith(SENTENCE_END)


class TurnDetector:
    """Per-session turn state: which words belong to the open turn, what was sent."""

    def __init__(self, settings: TurnSettings, interval_s: float) -> None:
        self.settings = settings
        self.interval_s = interval_s
        self.turn_order = 0
        # Index into the word stream where the open turn begins; it stays right
        # because the stream (hearing.py) only ever grows at its end.
        self.turn_start = 0
        self.last_emit_at: float | None = None
        self.last_signature: tuple[int, int, int] | None = None
        self.speech_started = False  # SpeechStarted sent for the open turn (u3-rt-pro)
        self.paused_at: int | None = None  # word count of the pause already given a partial

    def update(
        self,
        stream: list[WordTiming],
        heard_ms: float,
        now: float,
        *,
        formatted_text: bool,
        flush: bool = False,
        force: bool = False,
    ) -> list[dict[str, Any]]:
        """Return the messages due now; ``flush`` ends the open turn, ``force`` sends a partial."""
        words = stream[self.turn_start :]
        if self.settings.u3_pro:
            return self._u3(stream, words, heard_ms, formatted_text, flush, force)
        return self._universal(stream, words, heard_ms, now, formatted_text, flush, force)

    # -- shared ---------------------------------------------------------------

    def _confidence(self, words: list[WordTiming], silence_ms: float) -> float:
        if not words:
            return 0.0
        base = CONFIDENT if _ends_sentence(words[-1]) else UNSURE
        ramp = min(1.0, max(0.0, silence_ms) / max(1, self.settings.min_turn_silence))
        return round(base * ramp, 6)

    def _message(
        self,
        words: list[WordTiming],
        final_count: int,
        *,
        end_of_turn: bool,
        formatted: bool,
        confidence: float,
        transcript_count: int | None = None,
        formatted_text: bool,
    ) -> dict[str, Any]:
        def shown(word: WordTiming) -> str:
            return word.text if formatted or self.settings.u3_pro else normalise_word(word.text)

        count = final_count if transcript_count is None else transcript_count
        transcript = " ".join(shown(w) for w in words[:count])
        if formatted and not formatted_text and transcript:
            # Placeholder words have no punctuation of their own.
            transcript = transcript[0].upper() + transcript[1:]
            if not transcript.endswith(SENTENCE_END):
                transcript += "."
        utterance = ""
        if end_of_turn and (self.settings.u3_pro or not formatted):
            utterance = transcript
        message: dict[str, Any] = {
            "type": "Turn",
            "turn_order": self.turn_order,
            "turn_is_formatted": formatted,
            "end_of_turn": end_of_turn,
            "transcript": transcript,
            "end_of_turn_confidence": confidence,
            "utterance": utterance,
            "words": [
                {
                    "text": shown(w),
                    "start": w.start,
                    "end": w.end,
                    "confidence": w.confidence,
                    "word_is_final": i < final_count,
                }
                for i, w in enumerate(words)
            ],
        }
        if self.settings.language_detection and end_of_turn:
            message["language_code"], message["language_confidence"] = LANGUAGE
        if self.settings.speaker_labels:
            span = words[-1].end - words[0].start if words else 0
            message["speaker_label"] = "A" if span >= SPEAKER_MIN_MS else "UNKNOWN"
        return message

    def _close_turn(self, stream: list[WordTiming], now: float | None = None) -> None:
        self.turn_order += 1
        self.turn_start = len(stream)
        self.last_emit_at = now
        self.last_signature = None
        self.speech_started = False
        self.paused_at = None

    # -- Universal-Streaming --------------------------------------------------

    def _universal(
        self,
        stream: list[WordTiming],
        words: list[WordTiming],
        heard_ms: float,
        now: float,
        formatted_text: bool,
        flush: bool,
        force: bool,
    ) -> list[dict[str, Any]]:
        s = self.settings
        final_count = len(words) if flush else sum(1 for w in words if w.end <= heard_ms)
        silence = heard_ms - words[-1].end if words else 0.0
        confidence = self._confidence(words, silence)
        ended = (
            bool(words)
            and final_count == len(words)
            and (
                flush
                or (confidence > s.threshold and silence >= s.min_turn_silence)
                or silence >= s.max_turn_silence
            )
        )
        if ended:
            if flush:
                confidence = self._confidence(words, s.min_turn_silence)
            out = [
                self._message(
                    words,
                    final_count,
                    end_of_turn=True,
                    formatted=False,
                    confidence=confidence,
                    formatted_text=formatted_text,
                )
            ]
            if s.format_turns:
                out.append(
                    self._message(
                        words,
                        final_count,
                        end_of_turn=True,
                        formatted=True,
                        confidence=confidence,
                        formatted_text=formatted_text,
                    )
                )
            self._close_turn(stream, now)
            return out
        signature = (self.turn_order, len(words), final_count)
        if not force:
            if not words or signature == self.last_signature:
                return []
            if self.last_emit_at is not None and now - self.last_emit_at < self.interval_s:
                return []
        self.last_emit_at = now
        self.last_signature = signature
        return [
            self._message(
                words,
                final_count,
                end_of_turn=False,
                formatted=False,
                confidence=confidence,
                formatted_text=formatted_text,
            )
        ]

    # -- Universal-3 Pro ------------------------------------------------------

    def _u3(
        self,
        stream: list[WordTiming],
        words: list[WordTiming],
        heard_ms: float,
        formatted_text: bool,
        flush: bool,
        force: bool,
    ) -> list[dict[str, Any]]:
        s = self.settings
        out: list[dict[str, Any]] = []
        if words and not self.speech_started:
            self.speech_started = True
            out.append(
                {
                    "type": "SpeechStarted",
                    "timestamp": words[0].start,
                    "confidence": SPEECH_CONFIDENCE,
                }
            )
        all_heard = bool(words) and all(w.end <= heard_ms for w in words)
        silence = heard_ms - words[-1].end if words else 0.0
        paused = all_heard and silence >= s.min_turn_silence
        ended = bool(words) and (
            flush or (paused and _ends_sentence(words[-1])) or silence >= s.max_turn_silence
        )
        if ended:
            out.append(
                self._message(
                    words,
                    len(words),
                    end_of_turn=True,
                    formatted=True,
                    confidence=1.0,
                    formatted_text=formatted_text,
                )
            )
            self._close_turn(stream)
            return out
        if (paused and self.paused_at != len(words)) or force:
            self.paused_at = len(words)
            # Partials are provisional as a whole: no word is final until the turn ends.
            out.append(
                self._message(
                    words,
                    0,
                    end_of_turn=False,
                    formatted=False,
                    confidence=0.0,
                    transcript_count=len(words),
                    formatted_text=True,
                )
            )
        return out
