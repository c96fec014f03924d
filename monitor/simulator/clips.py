"""Known clips and what the simulator "hears" in audio.

Every ``*.wav`` in ``monitor/data`` with a sibling ``.txt`` is a known clip:
uploads with the same bytes (SHA-256) and streams whose PCM matches its
samples are transcribed as its reference text, with word timings derived
from the audio itself. Anything else gets a deterministic placeholder, so a
test can still tell two different inputs apart.
"""

from __future__ import annotations

import array
import hashlib
import io
import re
import sys
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scenario import ClipSpec

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# Peak amplitude (s16) above which a 10 ms block counts as speech.
SPEECH_PEAK = 500
BLOCK_MS = 10

PLACEHOLDER_VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
# Placeholder speech cadence: one word per slot, 2.2 words per second.
PLACEHOLDER_SLOT_MS = 450
PLACEHOLDER_WORD_MS = 350
PLACEHOLDER_LEAD_MS = 100
# A clip known only by its hash is never heard as shorter than this.
MIN_KNOWN_MS = 1000


@dataclass(frozen=True)
class WordTiming:
    """A word with its time span in integer milliseconds."""

    text: str
    start: int
    end: int
    confidence: float


@dataclass(frozen=True)
class KnownClip:
    """A bundled clip: its bytes' hash, PCM samples, reference text and words."""

    name: str
    sha256: str
    text: str
    sample_rate: int
    pcm: bytes
    duration_ms: int
    words: tuple[WordTiming, ...]


@dataclass(frozen=True)
class Transcription:
    """What the simulated model produces for a piece of audio."""

    text: str
    words: tuple[WordTiming, ...]
    duration_ms: int

    @property
    def confidence(self) -> float:
        """Return the mean word confidence (0 for no words)."""
        if not self.words:
            return 0.0
        return round(sum(w.confidence for w in self.words) / len(self.words), 6)


def normalise_word(word: str) -> str:
    """Return ``word`` lower-cased without punctuation, as unformatted turns show it."""
    return re.sub(r"[^\w']", "", word).lower()


def _confidence(seed: bytes, index: int) -> float:
    # Deterministic, plausible (0.85..0.999) and distinct per word.
    digest = hashlib.sha256(seed + index.to_bytes(4, "big")).digest()
    return round(0.85 + (digest[0] / 255) * 0.149, 6)


def _samples(pcm: bytes) -> array.array[int]:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def speech_span_ms(pcm: bytes, sample_rate: int) -> tuple[int, int] | None:
    """Return (start, end) ms of the audible part of s16le ``pcm``, or None if silent."""
    samples = _samples(pcm)
    block = max(1, sample_rate * BLOCK_MS // 1000)
    loud = [
        i
        for i in range(0, len(samples), block)
        if max((abs(s) for s in samples[i : i + block]), default=0) > SPEECH_PEAK
    ]
    if not loud:
        return None
    start = loud[0] * 1000 // sample_rate
    end = min(len(samples), loud[-1] + block) * 1000 // sample_rate
    return start, end


def is_audible(pcm: bytes) -> bool:
    """Return True if s16le ``pcm`` holds anything louder than near-silence."""
    samples = _samples(pcm)
    return any(abs(s) > SPEECH_PEAK for s in samples)


def align_words(text: str, span: tuple[int, int], seed: bytes) -> tuple[WordTiming, ...]:
    """Return ``text``'s words spread over ``span`` in proportion to their length."""
    tokens = text.split()
    if not tokens:
        return ()
    start, end = span
    # A short gap between words, as a real aligner leaves, keeps spans disjoint.
    gap = 40
    weights = [len(normalise_word(t)) or 1 for t in tokens]
    usable = max(len(tokens), end - start - gap * (len(tokens) - 1))
    words: list[WordTiming] = []
    cursor = float(start)
    total = sum(weights)
    for index, (token, weight) in enumerate(zip(tokens, weights, strict=True)):
        length = usable * weight / total
        w_start = round(cursor)
        w_end = max(w_start + 1, round(cursor + length))
        words.append(WordTiming(token, w_start, w_end, _confidence(seed, index)))
        cursor += length + gap
    return tuple(words)


def read_wav(data: bytes) -> tuple[bytes, int] | None:
    """Return (PCM bytes, sample rate) of a 16-bit mono WAV, or None if it is not one."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                return None
            return wav.readframes(wav.getnframes()), wav.getframerate()
    except (wave.Error, EOFError):
        return None


def known_clip(name: str, raw: bytes, text: str) -> KnownClip | None:
    """Return the known clip of WAV file bytes ``raw`` heard as ``text`` (None if not a WAV)."""
    parsed = read_wav(raw)
    if parsed is None:
        return None
    pcm, rate = parsed
    duration_ms = len(pcm) // 2 * 1000 // rate
    span = speech_span_ms(pcm, rate) or (0, duration_ms)
    digest = hashlib.sha256(raw).hexdigest()
    return KnownClip(
        name=name,
        sha256=digest,
        text=text,
        sample_rate=rate,
        pcm=pcm,
        duration_ms=duration_ms,
        words=align_words(text, span, digest.encode()),
    )


def load_known_clips(data_dir: Path = DATA_DIR) -> list[KnownClip]:
    """Return every WAV in ``data_dir`` that has a sibling ``.txt`` reference."""
    clips: list[KnownClip] = []
    for wav_path in sorted(data_dir.glob("*.wav")):
        txt_path = wav_path.with_suffix(".txt")
        if not txt_path.exists():
            continue
        text = txt_path.read_text(encoding="utf-8").strip()
        clip = known_clip(wav_path.stem, wav_path.read_bytes(), text)
        if clip is not None:
            clips.append(clip)
    return clips


def load_scenario_clips(specs: Iterable[ClipSpec]) -> tuple[list[KnownClip], dict[str, str]]:
    """Return a scenario's extra clips: full clips (WAV files) and texts by SHA-256 (the rest)."""
    clips: list[KnownClip] = []
    by_hash: dict[str, str] = {}
    for spec in specs:
        if spec.file is None:
            by_hash[str(spec.sha256).lower()] = spec.text
            continue
        raw = spec.file.read_bytes()
        clip = known_clip(spec.file.stem, raw, spec.text)
        if clip is not None:
            clips.append(clip)
        else:
            # Audio the simulator cannot decode (mp3, ...) is known by its bytes alone.
            by_hash[hashlib.sha256(raw).hexdigest()] = spec.text
    return clips, by_hash


def placeholder_word(seed: bytes, index: int) -> WordTiming:
    """Return the ``index``-th word of the deterministic placeholder transcript."""
    digest = hashlib.sha256(seed + index.to_bytes(4, "big")).digest()
    text = PLACEHOLDER_VOCABULARY[digest[1] % len(PLACEHOLDER_VOCABULARY)]
    start = PLACEHOLDER_LEAD_MS + index * PLACEHOLDER_SLOT_MS
    return WordTiming(text, start, start + PLACEHOLDER_WORD_MS, _confidence(seed, index))


def placeholder_transcription(seed: bytes, duration_ms: int) -> Transcription:
    """Return the deterministic stand-in transcript for audio nobody knows."""
    count = max(1, (duration_ms - PLACEHOLDER_LEAD_MS) // PLACEHOLDER_SLOT_MS)
    words = tuple(placeholder_word(seed, i) for i in range(count))
    text = " ".join(w.text for w in words).capitalize() + "."
    return Transcription(text=text, words=words, duration_ms=duration_ms)


class ClipLibrary:
    """Looks audio up among the known clips."""

    def __init__(self, clips: list[KnownClip], texts: dict[str, str] | None = None) -> None:
        # Scenario clips come after the bundled ones, so theirs win for the same bytes.
        self.clips = clips
        self._by_hash = {clip.sha256: clip for clip in clips}
        self._texts = dict(texts or {})

    def transcribe_upload(self, data: bytes) -> Transcription:
        """Return the transcript of audio file bytes (uploaded or downloaded)."""
        digest = hashlib.sha256(data).hexdigest()
        parsed = read_wav(data)
        # Looked up first: a scenario's text for these exact bytes wins over a bundled clip.
        text = self._texts.get(digest)
        if text is None and (clip := self._by_hash.get(digest)) is not None:
            return Transcription(clip.text, clip.words, clip.duration_ms)
        if text is not None:
            if parsed is not None:
                pcm, rate = parsed
                duration_ms = len(pcm) // 2 * 1000 // rate
                span = speech_span_ms(pcm, rate) or (0, duration_ms)
            else:
                # Not decodable here: assume the whole file is speech at 16 kHz s16le's rate.
                duration_ms = max(MIN_KNOWN_MS, len(data) // 32)
                span = (0, duration_ms)
            return Transcription(text, align_words(text, span, digest.encode()), duration_ms)
        if parsed is not None:
            pcm, rate = parsed
            for known in self.clips:
                # The same samples in a differently written WAV are the same speech.
                if known.sample_rate == rate and known.pcm == pcm:
                    return Transcription(known.text, known.words, known.duration_ms)
            duration_ms = len(pcm) // 2 * 1000 // rate
        else:
            # Not a WAV we can read: assume 16 kHz s16le, the probes' format.
            duration_ms = len(data) // 32
        return placeholder_transcription(digest.encode(), duration_ms)

    def transcribe_url(self, url: str) -> Transcription:
        """Return the transcript of a remote URL the simulator does not fetch."""
        return placeholder_transcription(url.encode(), 3000)

    def match_stream(self, pcm: bytes, sample_rate: int) -> KnownClip | None:
        """Return the known clip whose samples ``pcm`` starts with, if any."""
        if not pcm:
            return None
        for clip in self.clips:
            if clip.sample_rate != sample_rate:
                continue
            n = min(len(pcm), len(clip.pcm))
            if pcm[:n] == clip.pcm[:n]:
                return clip
        return None
