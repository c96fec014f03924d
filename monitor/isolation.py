"""Isolation of one probe run: a deadline, bugs turned into results, secrets scrubbed.

Whatever a probe does, what comes out of :func:`run_probe` is a
:class:`~monitor.models.ProbeResult` that is safe to store, show and send:

- a probe that ignores its own timeout is cancelled at ``timeout + grace``
  and reported as ``timeout`` (the deadline uses the event loop's real time,
  not the injected clock: it guards against bugs and must hold even when a
  test clock stands still);
- an exception, or anything but a ProbeResult, becomes ``internal``;
- every secret is masked out of the message and details (docs/design.md rule 4).

The scheduler runs every probe through it, and so does ``sttwatch once``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.models import ErrorKind, ProbeContext, ProbeFn, ProbeResult, Status
from monitor.redaction import Redactor

if TYPE_CHECKING:
    from monitor.config import Target

__all__ = ["DEFAULT_GRACE", "run_probe", "without_secrets"]

log = logging.getLogger(__name__)

DEFAULT_GRACE = 8.0
"""Seconds a probe may overrun its own timeout before it is cancelled.

Above the transcription probe's deletion budget (5 s after its timeout), so a
probe that is still cleaning up as designed is never cut."""


def _internal(target: str, probe: str, started: datetime, duration: float, msg: str) -> ProbeResult:
    return ProbeResult(
        target=target,
        probe=probe,
        started_at=started,
        duration_s=duration,
        status=Status.DOWN,
        error_kind=ErrorKind.INTERNAL,
        message=msg,
    )


async def run_probe(
    fn: ProbeFn,
    target: Target,
    probe: str,
    spec: Any,
    ctx: ProbeContext,
    *,
    grace: float = DEFAULT_GRACE,
    secrets: Sequence[str] = (),
    redactor: Redactor | None = None,
    raising: dict[tuple[str, str], str] | None = None,
) -> ProbeResult:
    """Return the result of one probe run; a bug or an overrun becomes a down result.

    The target's API key and the other `secrets` (the config's) are masked out
    of the result (see `without_secrets`). A caller running many probes passes
    `redactor` instead, built once from every secret including each target's key,
    and `raising`, its own record of (target, probe) -> the exception type its
    last run raised, so a probe that keeps raising logs its traceback once a streak.
    Every result carries the context's location (the agent's), whoever built it.
    """
    result = await _run_probe(fn, target, probe, spec, ctx, grace, secrets, redactor, raising)
    if result.location != ctx.location:
        result = replace(result, location=ctx.location)
    return result


async def _run_probe(
    fn: ProbeFn,
    target: Target,
    probe: str,
    spec: Any,
    ctx: ProbeContext,
    grace: float,
    secrets: Sequence[str],
    redactor: Redactor | None,
    raising: dict[tuple[str, str], str] | None,
) -> ProbeResult:
    clock = ctx.clock
    started = clock.now()
    t0 = clock.monotonic()
    limit = float(spec.timeout) + grace
    try:
        async with asyncio.timeout(limit) as deadline:
            result = await fn(target, spec, ctx)
    except TimeoutError:
        duration = clock.monotonic() - t0
        if not deadline.expired():
            log.exception("probe %s of target %s raised TimeoutError", probe, target.name)
            return _internal(target.name, probe, started, duration, "internal error: TimeoutError")
        log.error(
            "probe %s of target %s overran its %.1fs timeout by the %.1fs grace; cancelled",
            probe,
            target.name,
            float(spec.timeout),
            grace,
        )
        return ProbeResult(
            target=target.name,
            probe=probe,
            started_at=started,
            duration_s=duration,
            status=Status.DOWN,
            error_kind=ErrorKind.TIMEOUT,
            message=f"no result within {limit:g}s; the probe was cancelled by the scheduler",
        )
    except Exception as exc:
        # The traceback once per streak of the same exception, then one line a run: a
        # plugin that raises every run would otherwise print it every interval.
        key, raised = (target.name, probe), type(exc).__name__
        if raising is not None and raising.get(key) == raised:
            log.error(
                "probe %s of target %s raised %s again (traceback at its first raise)",
                probe,
                target.name,
                raised,
            )
        else:
            log.exception("probe %s of target %s raised", probe, target.name)
        if raising is not None:
            raising[key] = raised
        duration = clock.monotonic() - t0
        return _internal(
            target.name, probe, started, duration, f"internal error: {type(exc).__name__}"
        )
    if not isinstance(result, ProbeResult):
        log.error("probe %s returned %r instead of a ProbeResult", probe, type(result).__name__)
        duration = clock.monotonic() - t0
        return _internal(
            target.name, probe, started, duration, "internal error: probe returned no result"
        )
    if raising is not None:
        raising.pop((target.name, probe), None)
    if redactor is None:
        redactor = Redactor([target.api_key.get_secret_value(), *secrets])
    return without_secrets(result, redactor)


def without_secrets(result: ProbeResult, secrets: Sequence[str] | Redactor) -> ProbeResult:
    """Return `result` with every secret masked out of its message and details.

    A server, or a proxy in front of it, may echo the Authorization header back
    in an error body, a header (Retry-After) or a close reason, and probes copy
    such text into results. Every result passes through `run_probe`, so this is
    the one place that keeps the key out of the store, the status page, the API,
    ``once --json`` and alerts (docs/design.md rule 4).
    """
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    if not redactor.secrets:
        return result
    return replace(
        result, message=redactor.scrub(result.message), details=redactor.scrub(result.details)
    )
