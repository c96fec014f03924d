#!/usr/bin/env bash
# Makes the bundled probe clip: a ~2 s, 16 kHz, mono, 16-bit PCM WAV of one English
# sentence, plus its reference text. Reproducible: espeak-ng is deterministic and
# `sox -D` turns off the random dither, so the same Debian packages give the same bytes.
# Usage: bash scripts/make-clip.sh [OUT_DIR]   (default: monitor/data)
set -euo pipefail
out=${1:-"$(dirname "$0")/../monitor/data"}
text="The quick brown fox jumps over the lazy dog."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
espeak-ng -v en-us -s 230 -w "$tmp/raw.wav" "$text"
# 16 kHz mono s16; trim leading/trailing silence, then keep 150 ms of silence on each side.
sox -D "$tmp/raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$tmp/trim.wav" \
    silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
sox -D "$tmp/trim.wav" "$out/probe-clip.wav" pad 0.15 0.15
printf '%s\n' "$text" > "$out/probe-clip.txt"
soxi -D "$out/probe-clip.wav" >&2
