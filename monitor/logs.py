"""Logging set-up: one format for every command, and secrets redacted from every record."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TextIO

from monitor.redaction import Redactor


class RedactSecrets(Redactor, logging.Filter):
    """Replace every configured secret in a log record's rendered text with the mask.

    Why a filter and not care at each call site: exceptions from aiohttp, Apprise or
    the OS may quote a URL or header that carries a key, and the rule is that secrets
    never reach a log, whoever wrote the message.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        logging.Filter.__init__(self)
        Redactor.__init__(self, secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        """Return True after rewriting the record's message and traceback without secrets."""
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        return True


class _Handler(logging.StreamHandler[TextIO]):
    """The stderr handler sttwatch installs (so a second setup replaces, not doubles, it)."""


def setup_logging(level: str | int = "INFO", secrets: Iterable[str] = ()) -> RedactSecrets:
    """Return the redacting filter installed on a stderr handler of the root logger."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _Handler):
            root.removeHandler(h)
    handler = _Handler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    redactor = RedactSecrets(secrets)
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("aiohttp.access", "apprise"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return redactor
