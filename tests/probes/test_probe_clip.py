"""The bundled probe clip: the format both probes rely on, and that the committed
script reproduces it byte for byte (espeak-ng + `sox -D`, no random dither)."""

from __future__ import annotations

import hashlib
import subprocess
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "monitor" / "data"


def test_clip_is_16k_mono_s16_about_two_seconds() -> None:
    with wave.open(str(DATA / "probe-clip.wav")) as w:
        assert w.getnchannels() == 1
        assert w.getsampwidth() == 2
        assert w.getframerate() == 16000
        assert w.getcomptype() == "NONE"
        seconds = w.getnframes() / w.getframerate()
    assert 1.5 <= seconds <= 3.0, seconds
    reference = (DATA / "probe-clip.txt").read_text().strip()
    assert len(reference.split()) >= 6


def test_script_reproduces_the_committed_clip(tmp_path: Path) -> None:
    subprocess.run(
        ["bash", str(REPO / "scripts" / "make-clip.sh"), str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    made = hashlib.sha256((tmp_path / "probe-clip.wav").read_bytes()).hexdigest()
    committed = hashlib.sha256((DATA / "probe-clip.wav").read_bytes()).hexdigest()
    assert made == committed
    assert (tmp_path / "probe-clip.txt").read_text() == (DATA / "probe-clip.txt").read_text()
