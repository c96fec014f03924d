"""Secret redaction: the one mask and the one redactor every output path uses.

Logs, probe results, the store's deletion errors, alert messages and
``check-config`` all show a secret the same way. The mask is Apprise's own
privacy mask (``json://alice:****@host``), so a URL masked by Apprise and a
URL masked here read alike (docs/design.md rule 4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = ["MASK", "MIN_SECRET_LEN", "Redactor", "mask_password", "password_secrets", "redact"]

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


def mask_password(url: str) -> str:
    """Return `url` with the password of its ``user:password@`` masked, the rest readable."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    # The netloc's own spelling (not .username/.hostname, which decode and lower-case).
    userinfo, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.partition(':')[0]}:{MASK}@{host}"))


def password_secrets(url: str) -> list[str]:
    """Return the password of `url`'s ``user:password@`` as written and decoded (none: [])."""
    password = urlsplit(url).password
    return [p for p in {password, unquote(password)} if p] if password else []
