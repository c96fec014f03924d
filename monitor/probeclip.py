"""The bundled probe clip: WAV bytes to upload, PCM to stream, and its reference text.

The clip ships inside the package (``monitor/data/probe-clip.wav`` and its
``.txt`` sibling) and is read through :mod:`importlib.resources`, so it is
found the same way from a source checkout, a wheel or a zip import. It is
loaded once per process.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from functools import cache
from importlib import resources

CLIP_NAME = "probe-clip"


@dataclass(frozen=True, slots=True)
class ProbeClip:
    """A short spoken clip and the words it contains."""

    wav: bytes
    pcm: bytes
    sample_rate: int
    channels: int
    sample_width: int
    reference_text: str

    @property
    def duration_s(self) -> float:
        """Return the length of the audio in seconds."""
        return len(self.pcm) / (self.sample_rate * self.channels * self.sample_width)

    @property
    def bytes_per_ms(self) -> float:
        """Return how many PCM bytes one millisecond of audio takes."""
        return self.sample_rate * self.channels * self.sample_width / 1000


@cache
def load_clip() -> ProbeClip:
    """Return the bundled probe clip (read from the package once, then cached)."""
    data = resources.files("monitor").joinpath("data")
    wav_bytes = data.joinpath(f"{CLIP_NAME}.wav").read_bytes()
    text = data.joinpath(f"{CLIP_NAME}.txt").read_text(encoding="utf-8").strip()
    with wave.open(io.BytesIO(wav_bytes), "rb") as w:
        pcm = w.readframes(w.getnframes())
        return ProbeClip(
            wav=wav_bytes,
            pcm=pcm,
            sample_rate=w.getframerate(),
            channels=w.getnchannels(),
            sample_width=w.getsampwidth(),
            reference_text=text,
        )
