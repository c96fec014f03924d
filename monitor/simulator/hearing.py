"""What a streaming session hears: known clips and placeholder speech over time.

Audio arrives frame by frame. Digital silence separates *segments*; each
segment starts at its first non-silent sample and is compared with the known
clips (their own leading silence stripped). While it keeps matching a clip it
is heard as that clip's words, shifted to where the segment began; once it
diverges, the rest of it is unknown speech, heard as placeholder words in the
loud parts. The clip's words already heard before the divergence stay as they
were (text and timings): what was heard, and perhaps sent as final, never
changes, so the word stream only ever grows at its end (the turn detector
indexes into it). So a client that sends the clip, some silence, and the clip
again hears the sentence twice, as two turns; one that stops or pauses
mid-clip hears the clip's words up to there, then placeholder words.
"""

from __future__ import annotations

from dataclasses import dataclass

from .clips import (
    PLACEHOLDER_LEAD_MS,
    PLACEHOLDER_SLOT_MS,
    ClipLibrary,
    KnownClip,
    WordTiming,
    is_audible,
    placeholder_word,
)

_MULAW_SILENCE = frozenset({0xFF, 0x7F, 0xFE, 0x7E})
PLACEHOLDER_SEED = b"stream"


@dataclass
class Segment:
    """A stretch of non-silent audio: a (possibly still matching) clip or unknown.

    ``clip`` is None for audio that never matched a clip. A segment that
    matched one and then diverged keeps it, with ``diverged_byte`` set: the
    clip's words up to there, unknown speech after.
    """

    start_byte: int
    clip: KnownClip | None
    clip_lead: int = 0  # bytes of leading silence the clip itself has
    matched: int = 0  # bytes of the clip's core matched so far
    end_byte: int | None = None
    diverged_byte: int | None = None  # absolute byte where it stopped matching its clip

    def is_clip(self) -> bool:
        """Return True while the segment is (still) heard as its clip, all of it."""
        return self.clip is not None and self.diverged_byte is None


class Hearing:
    """Turns a growing audio stream into the words heard so far."""

    def __init__(self, clips: ClipLibrary, sample_rate: int, encoding: str) -> None:
        self.clips = clips
        self.sample_rate = sample_rate
        self.encoding = encoding
        self.bytes_per_ms = sample_rate * (1 if encoding == "pcm_mulaw" else 2) / 1000
        self.received = 0
        self.segments: list[Segment] = []
        self.current: Segment | None = None
        self.loud_slots: set[int] = set()

    @property
    def received_ms(self) -> float:
        """Return how much audio (ms) has arrived."""
        return self.received / self.bytes_per_ms

    def _silent_run(self, data: bytes, pos: int) -> int:
        """Return the index of the first non-silent sample at or after ``pos``."""
        if self.encoding == "pcm_mulaw":
            for i in range(pos, len(data)):
                if data[i] not in _MULAW_SILENCE:
                    return i
            return len(data)
        stripped = len(data) - len(data[pos:].lstrip(b"\0"))
        return stripped - stripped % 2

    def _start_segment(self, data: bytes, absolute: int) -> Segment:
        clip: KnownClip | None = None
        lead = 0
        if self.encoding == "pcm_s16le":
            for candidate in self.clips.clips:
                if candidate.sample_rate != self.sample_rate:
                    continue
                core_lead = len(candidate.pcm) - len(candidate.pcm.lstrip(b"\0"))
                core_lead -= core_lead % 2
                n = min(len(data), len(candidate.pcm) - core_lead)
                if data[:n] == candidate.pcm[core_lead : core_lead + n]:
                    clip, lead = candidate, core_lead
                    break
        segment = Segment(start_byte=absolute, clip=clip, clip_lead=lead)
        self.segments.append(segment)
        return segment

    def feed(self, data: bytes) -> None:
        """Take in one frame of audio."""
        base = self.received
        self._mark_loud(data, base)
        pos = 0
        while pos < len(data):
            segment = self.current
            if segment is None:
                pos = self._silent_run(data, pos)
                if pos >= len(data):
                    break
                segment = self.current = self._start_segment(data[pos:], base + pos)
            if segment.clip is None or segment.diverged_byte is not None:
                # Unknown speech lasts until a frame of pure silence.
                if self._silent_run(data, 0) >= len(data):
                    segment.end_byte = base
                    self.current = None
                break
            core = segment.clip.pcm[segment.clip_lead :]
            chunk = data[pos : pos + len(core) - segment.matched]
            expected = core[segment.matched : segment.matched + len(chunk)]
            if expected != chunk:
                # Diverged: the clip's words heard so far stay, the rest is unknown speech.
                same = _common_prefix(expected, chunk)
                segment.diverged_byte = base + pos + same - same % 2
                continue
            segment.matched += len(chunk)
            pos += len(chunk)
            if segment.matched >= len(core):
                segment.end_byte = base + pos
                self.current = None
        self.received += len(data)

    def _mark_loud(self, data: bytes, base: int) -> None:
        loud = (
            any(b not in _MULAW_SILENCE for b in data)
            if self.encoding == "pcm_mulaw"
            else is_audible(data)
        )
        if loud:
            start_ms = base / self.bytes_per_ms
            end_ms = (base + len(data)) / self.bytes_per_ms
            first = int((start_ms - PLACEHOLDER_LEAD_MS) // PLACEHOLDER_SLOT_MS)
            last = int((end_ms - PLACEHOLDER_LEAD_MS) // PLACEHOLDER_SLOT_MS)
            self.loud_slots.update(range(max(0, first), last + 1))

    def words(self) -> list[WordTiming]:
        """Return the words heard so far, in order; the last may still be under way.

        Each call's list starts with the previous call's: words are only ever added.
        """
        heard = self.received_ms
        out: list[WordTiming] = []
        placed: set[int] = set()
        for segment in self.segments:
            start_ms = segment.start_byte / self.bytes_per_ms
            end_ms = heard if segment.end_byte is None else segment.end_byte / self.bytes_per_ms
            unknown_from = start_ms
            if segment.clip is not None:
                # A clip word is heard from its start on; after a divergence,
                # only those that began before it (they may already be final).
                until = heard
                if segment.diverged_byte is not None:
                    until = unknown_from = segment.diverged_byte / self.bytes_per_ms
                shift = round(start_ms - segment.clip_lead / self.bytes_per_ms)
                for word in segment.clip.words:
                    start = word.start + shift
                    if start < until:
                        end = word.end + shift
                        out.append(WordTiming(word.text, start, end, word.confidence))
                if segment.diverged_byte is None:
                    continue
            index = max(0, int((unknown_from - PLACEHOLDER_LEAD_MS) // PLACEHOLDER_SLOT_MS))
            while True:
                word = placeholder_word(PLACEHOLDER_SEED, index)
                # Placeholder words are heard only once their slot is complete.
                if word.end > heard or word.start >= end_ms:
                    break
                # Never before the last word heard: words stay in time order.
                after = not out or word.start >= out[-1].end
                if index in self.loud_slots and index not in placed and after:
                    placed.add(index)
                    out.append(word)
                index += 1
        return out

    def formatted_hint(self) -> bool:
        """Return True if every segment heard so far is a known clip (text has punctuation)."""
        return all(segment.is_clip() for segment in self.segments)


def _common_prefix(a: bytes, b: bytes) -> int:
    """Return how many leading bytes ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
