"""Alert URLs as Apprise reads them: an entry's tags, its secrets masked, and the offline check.

check-config, run and test-alert use the same check (Apprise's own parsing and its
service's constructor), so a mistyped URL is refused at load, not dropped at send.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from monitor.redaction import MASK

__all__ = ["apprise_url_problem", "config_file_problems", "mask_url", "split_tags", "url_secrets"]


# ---------------------------------------------------------------------------
# Secrets in URLs


def url_secrets(url: str) -> list[str]:
    """Return the parts of an Apprise URL that are secret (password, tokens, query keys)."""
    parts = urlsplit(url)
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    if parts.username and parts.password is None and parts.scheme not in ("mailto", "mailtos"):
        found.append(parts.username)
    for seg in parts.path.split("/"):
        if len(seg) >= 8:
            found.append(seg)
    token_hosts = ("slack", "discord", "msteams", "tgram", "pushover", "ntfy", "gotify")
    if parts.scheme in token_hosts and parts.hostname and len(parts.hostname) >= 8:
        found.append(parts.hostname)
    for pair in parts.query.split("&"):
        key, _, val = pair.partition("=")
        if val and any(w in key.lower() for w in ("pass", "token", "key", "secret", "pw")):
            found.append(val)
    return found


def mask_url(url: str) -> str:
    """Return `url` with its credentials masked, as Apprise's privacy mode would show it."""
    try:
        import apprise

        obj = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        masked = str(obj.url(privacy=True)) if obj is not None else url  # type: ignore[no-untyped-call]
    except Exception:  # masking must never fail: fall back to our own below
        masked = url
    # Apprise's privacy mode leaves some secrets readable (a json:// URL's
    # "-token=..." GET parameter), so ours are masked as well, raw or encoded.
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            masked = masked.replace(form, MASK)
    return masked


# ---------------------------------------------------------------------------
# Alert URLs, as Apprise reads them

# "critical, pager=pagerduty://…": Apprise's own TEXT-config spelling of tags.
_TAGGED = re.compile(
    r"^\s*(?P<tags>[A-Za-z0-9][A-Za-z0-9_\-, ]*?)\s*=\s*(?P<url>[A-Za-z0-9+.\-]+://.*)$"
)
# The pieces of a URL an Apprise error message may repeat (tokens, user names, hosts).
_URL_PIECE = re.compile(r"[^/:@?&=#,;%+\s.()]{3,}")


def split_tags(entry: str) -> tuple[frozenset[str], str]:
    """Return (tags, url) for an ``alerts.urls`` entry: ``"tag1, tag2=scheme://…"`` or a URL."""
    m = _TAGGED.match(entry)
    if m is None:
        return frozenset(), entry.strip()
    tags = frozenset(t.strip().lower() for t in m.group("tags").split(",") if t.strip())
    return tags, m.group("url").strip()


def _masked_reason(reason: str, url: str) -> str:
    """Return Apprise's `reason` with every piece of `url` after its scheme masked."""
    for piece in sorted(set(_URL_PIECE.findall(url.partition("://")[2])), key=len, reverse=True):
        reason = reason.replace(piece, MASK)
    return reason


def apprise_url_problem(url: str) -> str | None:
    """Return why Apprise cannot use `url`, or None when it can.

    Offline: Apprise's own parsing and its service's constructor, exactly what
    sending will do first, without sending anything. The URL itself is not
    repeated (the caller names its place) and Apprise's reason has every piece
    of it masked, so no secret is echoed.
    """
    if "://" not in url:
        return "not an Apprise URL (expected scheme://...)"
    import logging

    from apprise import AppriseAsset
    from apprise.manager_plugins import NotificationManager
    from apprise.plugins import url_to_dict

    # Apprise's registry of its services (one shared instance).
    services = NotificationManager()  # type: ignore[no-untyped-call]
    scheme = url.partition("://")[0].strip().lower()
    quiet = logging.getLogger("apprise")
    was_disabled, quiet.disabled = quiet.disabled, True  # its ERROR lines would repeat ours
    try:
        # Also the services' own URLs (https://hooks.slack.com/…), as Apprise accepts them.
        parsed = url_to_dict(url)  # type: ignore[no-untyped-call]
        if parsed is None:
            if scheme not in services:
                known = list(services.schemas())  # type: ignore[no-untyped-call]
                hint = difflib.get_close_matches(scheme, known, n=1)
                mean = f" (did you mean {hint[0]!r}?)" if hint else ""
                if scheme in ("http", "https"):  # a plain webhook is json://, form:// or xml://
                    mean = " (for a plain webhook use json://, form:// or xml://)"
                return f"Apprise does not know the scheme {scheme!r}{mean}"
            name = services[scheme].service_name
            return f"Apprise cannot parse this {name} URL (missing or malformed parts)"
        service = services[parsed["schema"]]
        name = service.service_name
        if not service.enabled:
            return f"Apprise's {name} service ({parsed['schema']}://) is disabled on this system"
        try:
            # The constructor checks the parts (token lengths, required fields); a memory-only
            # asset, so checking a URL writes nothing to disk.
            service(**parsed, asset=AppriseAsset(storage_mode="memory"))
        except Exception as exc:  # Apprise raises TypeError or its own error types
            reason = _masked_reason(str(exc).strip() or type(exc).__name__, url)
            return f"Apprise cannot use this {name} URL: {reason}"
    finally:
        quiet.disabled = was_disabled
    return None


def config_file_problems(path: str) -> list[tuple[str, str]]:
    """Return (place, problem) for each URL of an Apprise config file Apprise cannot use.

    The file's URLs get the same offline check as ``alerts.urls``; a place is the
    file's line (TEXT format) or its ``urls[i]`` (YAML format). ``include`` lines
    and anything Apprise reads but is not a URL are left to Apprise.
    """
    from apprise.common import ConfigFormat
    from apprise.config import ConfigBase

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [("alerts.config", f"cannot read {path}: {exc}")]
    found: list[tuple[str, str]] = []
    fmt = ConfigBase.detect_config_format(text)
    if fmt is None:
        return [("alerts.config", f"Apprise cannot tell the format of {path} (TEXT or YAML)")]
    if fmt == ConfigFormat.YAML:
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return [("alerts.config", f"{path} is not valid YAML: {exc}")]
        entries = doc.get("urls") if isinstance(doc, dict) else None
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            urls = (
                [entry]
                if isinstance(entry, str)
                else list(entry)
                if isinstance(entry, dict)
                else []
            )
            for url in urls:
                problem = apprise_url_problem(str(url))
                if problem is not None:
                    found.append((f"alerts.config ({path}: urls[{i}])", problem))
        return found
    for n, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry or entry[0] in "#;" or entry.lower().startswith("include "):
            continue
        problem = apprise_url_problem(split_tags(entry)[1])
        if problem is not None:
            found.append((f"alerts.config ({path}, line {n})", problem))
    return found
