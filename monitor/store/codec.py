"""How a probe result becomes a raw `results` row and back: encodings v0, v1 and v2.

A row keeps only what cannot be rebuilt from the probe kind's frozen stored
form (monitor.probes.StoredForm): the phases in the kind's order, the standard
wording of an up run, the details every good run reports. The encoder checks
that its row decodes to the result it was given and falls back to v0 when it
would not, so nothing stored is ever wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from monitor.durations import seconds_text
from monitor.models import LOCAL, ErrorKind, ProbeResult, Status
from monitor.probes.registry import KindTable
from monitor.store.records import (
    CODE_STATUS,
    PHASE_ORDER,
    STATUS_CODE,
    StoredResult,
    compact_json,
    decode_phases,
    encode_phases,
    from_ms,
    to_ms,
)

__all__ = [
    "RESULT_COLUMNS",
    "decode_result",
    "encode_result",
    "encode_v0",
    "encode_v1",
    "phases_in_us",
]


# Encoding v1 (Findings F5 of BENCHMARKS.md): a raw row keeps only what cannot be
# rebuilt. `phases` is a JSON array — microseconds in the probe kind's order below,
# null for a phase the run did not reach, trailing nulls dropped, and an object of
# {name: µs} last for phases outside that order. It always starts with "[", which
# is what tells a v1 row from a v0 one (`phases` a JSON object or NULL), so rows
# written before stay readable. `message` is NULL for an up run whose message is
# the probe's standard wording, and `details` leaves out what repeats a phase and
# the values every good run of that probe kind reports.
#
# Everything below is part of the stored format: rows already written decode
# with these tables, so they are frozen copies (the probe kinds' `StoredForm`,
# not their phases nor the probes' strings) and a change means a new encoding
# version. The encoder checks that its row decodes to the result it was given
# and writes v0 when it would not, so a probe whose wording or details change is
# stored bigger, never wrong.
# Details that repeat a phase, rounded as the probes round them.
_V1_FROM_PHASES: tuple[tuple[str, str], ...] = (
    ("queue_s", "queued"),
    ("processing_s", "processing"),
    ("first_transcript_s", "first_transcript"),
)
# The transcript of the probe clip as each probe kind receives it when it is exact.
_V1_TEXTS: Mapping[str, str] = KindTable(lambda kind: kind.stored.text if kind.stored else None)
# Details of every good (up or degraded) run of a probe kind, unless they differ.
_V1_GOOD_DEFAULTS: Mapping[str, Mapping[str, Any]] = KindTable(
    lambda kind: kind.stored.good_details_v1 if kind.stored else None
)
# Encoding v2 (what is written now): v1's details rules with the kinds' v2 defaults
# and `phases` as a BLOB, which tells a v2 row from a v1 one (text): the phases' µs
# values as `encode_phases` writes a bucket of one good run (`_raw_phases_blob`).
_V2_GOOD_DEFAULTS: Mapping[str, Mapping[str, Any]] = KindTable(
    lambda kind: kind.stored.good_details_v2 if kind.stored else None
)
# The order in which each probe writes its details.
_V1_DETAIL_RANK: Mapping[str, dict[str, int]] = KindTable(
    lambda kind: {key: i for i, key in enumerate(kind.stored.detail_order)} if kind.stored else None
)
# What an up run's message says before "in <key latency>" (RunRecorder.passed), and
# where that latency is read from.
_V1_UP_WORDING: Mapping[str, tuple[str, tuple[str, str]]] = KindTable(
    lambda kind: (kind.stored.up_wording, kind.stored.up_latency) if kind.stored else None
)


def _up_message(probe: str, phases_us: Mapping[str, int], details: Mapping[str, Any]) -> str | None:
    """Return the standard message of an up run, or None when it cannot be rebuilt."""
    wording = _V1_UP_WORDING.get(probe)
    if wording is None:
        return None
    what, (source, key) = wording
    if source == "detail":
        latency = details.get(key)
        if type(latency) is not float:
            return None
    else:
        us = phases_us.get(key)
        if us is None:
            return None
        latency = us / 1_000_000
    return f"{what} in {seconds_text(latency)}"


def _slim_details(
    probe: str,
    good: bool,
    phases_us: Mapping[str, int],
    details: Mapping[str, Any],
    defaults: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Return `details` without what `_restore_details` puts back."""
    d = dict(details)
    for key, phase in _V1_FROM_PHASES:
        us = phases_us.get(phase)
        value = d.get(key)
        if us is not None and type(value) is float and value == round(us / 1_000_000, 6):
            del d[key]
    text = _V1_TEXTS.get(probe)
    if text is not None and "wer" in d and d.get("text") == text:
        del d["text"]
    if good:
        for key, default in defaults.get(probe, {}).items():
            value = d.get(key, _MISSING)
            if type(value) is type(default) and value == default:
                del d[key]
    return d


def _restore_details(
    probe: str,
    good: bool,
    phases_us: Mapping[str, int],
    d: dict[str, Any],
    defaults: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Return a v1/v2 row's details `d` with what was left out put back, in the probe's order."""
    restored: dict[str, Any] = {}
    for key, phase in _V1_FROM_PHASES:
        us = phases_us.get(phase)
        if us is not None and key not in d:
            restored[key] = round(us / 1_000_000, 6)
    text = _V1_TEXTS.get(probe)
    if text is not None and "wer" in d and "text" not in d:
        restored["text"] = text
    if good:
        for key, default in defaults.get(probe, {}).items():
            if key not in d:
                restored[key] = default
    if not restored:
        return d
    # Each restored key goes back before the first stored key the probe writes after
    # it, so the JSON a reader prints lists them where the probe did.
    rank = _V1_DETAIL_RANK.get(probe, {})
    last = len(rank)
    pending = sorted(restored, key=lambda k: rank.get(k, last))
    out: dict[str, Any] = {}
    for key, value in d.items():
        i = rank.get(key)
        if i is not None:
            while pending and rank.get(pending[0], last) < i:
                p = pending.pop(0)
                out[p] = restored[p]
        out[key] = value
    for p in pending:
        out[p] = restored[p]
    return out


_MISSING = object()


def _raw_phases_blob(probe: str, phases_us: Mapping[str, int]) -> bytes:
    """Return a v2 row's `phases` BLOB (never empty: a run without phases is b"\\0\\0")."""
    return encode_phases(probe, 1, {k: (v, 1) for k, v in phases_us.items()}) or b"\0\0"


def _text_columns(
    result: ProbeResult, phases_us: Mapping[str, int], defaults: Mapping[str, Mapping[str, Any]]
) -> tuple[str | None, str | None] | None:
    """Return the v1/v2 (message, details) columns, or None if the row cannot be rebuilt.

    `defaults` is the encoding's table of good-run details.
    """
    probe, status = result.probe, result.status
    good = status is not Status.DOWN
    slim = _slim_details(probe, good, phases_us, result.details, defaults)
    back = _restore_details(probe, good, phases_us, dict(slim), defaults)
    if back != result.details or list(back) != list(result.details):
        return None  # a detail the decoder would add, alter or move: keep the row verbatim
    message: str | None = result.message
    if status is Status.UP:
        if message == _up_message(probe, phases_us, result.details):
            message = None
    elif not message:
        message = None
    return message, compact_json(slim) if slim else None


def _encode_v2(
    result: ProbeResult, phases_us: dict[str, int]
) -> tuple[str | None, bytes, str | None] | None:
    """Return the v2 (message, phases, details) columns, or None if v2 cannot hold `result`."""
    text = _text_columns(result, phases_us, _V2_GOOD_DEFAULTS)
    if text is None:
        return None
    message, details = text
    return message, _raw_phases_blob(result.probe, phases_us), details


def phases_in_us(result: ProbeResult) -> dict[str, int]:
    """Return the result's phases in integer microseconds, as rows store them."""
    return {k: round(v * 1_000_000) for k, v in result.phases.items()}


def encode_result(result: ProbeResult, phases_us: dict[str, int] | None = None) -> tuple[Any, ...]:
    """Return (started_at, status, error_kind, duration_us, message, phases, details).

    `phases_us` is `phases_in_us(result)` when the caller already has it.
    """
    if phases_us is None:
        phases_us = phases_in_us(result)
    head = (
        to_ms(result.started_at),
        STATUS_CODE[result.status],
        result.error_kind.value if result.error_kind else None,
        round(result.duration_s * 1_000_000),
    )
    v2 = _encode_v2(result, phases_us)
    if v2 is not None:
        return (*head, *v2)
    return (*head, *encode_v0(result, phases_us))


def encode_v1(result: ProbeResult) -> tuple[str | None, str, str | None] | None:
    """Return the (message, phases, details) columns of encoding v1, or None if it cannot hold it.

    Written by sttwatch before v2; kept so that tests can write such rows.
    """
    phases_us = phases_in_us(result)
    text = _text_columns(result, phases_us, _V1_GOOD_DEFAULTS)
    if text is None:
        return None
    order = PHASE_ORDER.get(result.probe, ())
    positional: list[Any] = [phases_us.get(name) for name in order]
    while positional and positional[-1] is None:
        positional.pop()
    extra = {k: v for k, v in phases_us.items() if k not in set(order)}
    if extra:
        positional.append(extra)
    message, details = text
    return message, compact_json(positional), details


def encode_v0(
    result: ProbeResult, phases_us: dict[str, int] | None = None
) -> tuple[str | None, str | None, str | None]:
    """Return the (message, phases, details) columns of the original encoding (v0)."""
    if phases_us is None:
        phases_us = {k: round(v * 1_000_000) for k, v in result.phases.items()}
    return (
        result.message or None,
        compact_json(phases_us) if phases_us else None,
        compact_json(result.details) if result.details else None,
    )


RESULT_COLUMNS = (
    "r.id, c.target, c.probe, r.started_at, r.status, r.error_kind, r.duration_us,"
    " r.message, r.phases, r.details, r.location"
)


def _decode_v1(
    probe: str, status: Status, message: str | None, phases: str, details: str | None
) -> tuple[str, dict[str, float], dict[str, Any]]:
    """Return (message, phases in seconds, details) of a v1 row's text columns."""
    values: list[Any] = json.loads(phases)
    extra: dict[str, int] = values.pop() if values and isinstance(values[-1], dict) else {}
    phases_us = {
        name: us
        for name, us in zip(PHASE_ORDER.get(probe, ()), values, strict=False)
        if us is not None
    }
    phases_us.update(extra)
    return _decode_rest(probe, status, message, phases_us, details, _V1_GOOD_DEFAULTS)


def _decode_v2(
    probe: str, status: Status, message: str | None, phases: bytes, details: str | None
) -> tuple[str, dict[str, float], dict[str, Any]]:
    """Return (message, phases in seconds, details) of a v2 row's columns."""
    phases_us = {k: s for k, (s, _) in decode_phases(probe, 1, phases).items()}
    return _decode_rest(probe, status, message, phases_us, details, _V2_GOOD_DEFAULTS)


def _decode_rest(
    probe: str,
    status: Status,
    message: str | None,
    phases_us: dict[str, int],
    details: str | None,
    defaults: Mapping[str, Mapping[str, Any]],
) -> tuple[str, dict[str, float], dict[str, Any]]:
    good = status is not Status.DOWN
    d = _restore_details(probe, good, phases_us, json.loads(details) if details else {}, defaults)
    if message is None:
        message = (_up_message(probe, phases_us, d) if status is Status.UP else None) or ""
    return message, {k: v / 1_000_000 for k, v in phases_us.items()}, d


def decode_result(row: tuple[Any, ...]) -> StoredResult:
    """Return the stored result of one row selected with `RESULT_COLUMNS` (v0, v1 or v2).

    A PostgreSQL row (`Dialect.result_columns`) has the text phases of v0 and
    v1 in a twelfth column of their own (``phases`` holds v2's BLOB there).
    """
    if len(row) == 12:
        *head, text = row
        row = (*head[:8], head[8] if head[8] is not None else text, *head[9:])
    rid, target, probe, started, status, kind, dur_us, message, phases, details, *where = row
    location = where[0] if where else LOCAL  # a row selected without its location column
    st = CODE_STATUS[status]
    if isinstance(phases, bytes):
        message, phase_s, detail = _decode_v2(probe, st, message, phases, details)
    elif phases is not None and phases[:1] == "[":
        message, phase_s, detail = _decode_v1(probe, st, message, phases, details)
    else:
        message = message or ""
        phase_s = {k: v / 1_000_000 for k, v in json.loads(phases).items()} if phases else {}
        detail = json.loads(details) if details else {}
    return StoredResult(
        id=rid,
        result=ProbeResult(
            target=target,
            probe=probe,
            started_at=from_ms(started),
            duration_s=dur_us / 1_000_000,
            status=st,
            error_kind=ErrorKind(kind) if kind else None,
            message=message,
            phases=phase_s,
            details=detail,
            location=location,
        ),
    )
