"""Word error rate of a transcript against its reference, with one documented normalisation.

Both texts are normalised the same way before :func:`jiwer.wer` compares
their words, so formatting choices of the provider (capitals, punctuation,
spacing) never count as errors while real word changes do:

1. Unicode NFKC, then ``casefold()`` (lower-case, also for non-ASCII).
2. Apostrophes (``'`` and ``’``) are removed, so ``don't`` and ``dont`` match.
3. Every other character that is not a letter or a digit (punctuation,
   hyphens, symbols) becomes a space, so ``well-known`` is two words.
4. Runs of whitespace collapse to one space; the ends are stripped.

Numbers are compared as written: ``5`` and ``five`` are different words
(the bundled clip has none; a user's own clip should spell numbers the way
the provider formats them). An empty reference gives 0.0 for an empty
hypothesis and 1.0 otherwise; an empty hypothesis against a non-empty
reference gives 1.0 (every word deleted).
"""

from __future__ import annotations

import unicodedata

import jiwer

_APOSTROPHES = str.maketrans("", "", "'’")


def normalise(text: str) -> str:
    """Return `text` normalised as the module docstring describes."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    spaced = "".join(ch if ch.isalnum() else " " for ch in folded)
    return " ".join(spaced.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Return the WER of `hypothesis` against `reference` after normalisation (0.0 = exact)."""
    ref = normalise(reference)
    hyp = normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))
