"""Secret redaction: the one mask and the one redactor every output path uses.

Logs, probe results, the store's deletion errors, alert messages and
``check-config`` all show a secret the same way. The mask is Apprise's own
privacy mask (``json://alice:****@host``), so a URL masked by Apprise and a
URL masked here read alike (docs/design.md rule 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["MASK", "MIN_SECRET_LEN", "Redactor", "redact"]

MASK = "****"
"""What every secret is replaced with, wherever sttwatch shows text."""

MIN_SECRET_LEN = 4
"""Shorter values are not masked: masking "a" would mangle every word."""


class Redactor:
    """Replaces every secret in text (or nested data) with `MASK`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets: list[str] = sorted(
            {s for s in secrets if len(s) >= MIN_SECRET_LEN}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        """Return `text` with every secret replaced by the mask."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def scrub(self, value: Any) -> Any:
        """Return `value` with the mask in every string, dict key and item, at any depth."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value


def redact(text: str, secrets: Iterable[str]) -> str:
    """Return `text` with every one of `secrets` replaced by the mask, longest first."""
    return Redactor(secrets).redact(text)
