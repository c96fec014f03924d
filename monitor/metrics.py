"""The Prometheus metrics of docs/design.md §3 — the only module that defines any.

Each :class:`Metrics` owns its own ``CollectorRegistry`` (never the global
one), so tests and several instances in one process do not collide. Label
values come only from the config (target names are slugs), from the probe
registry, or from closed vocabularies (``Status``, ``ErrorKind``, the phase
names of each provider's kind): nothing from free text, so a server echoing odd
strings cannot blow up the series count. Every series of a target carries its
``provider``, and what a kind exports (its phases, its error kinds) is read
from that provider's kind.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from monitor import __version__
from monitor.models import LOCAL, ErrorKind, ProbeResult, Status
from monitor.probes.registry import ProbeType, probe_types, providers
from monitor.webhook_runs import REFUSALS

if TYPE_CHECKING:
    from monitor.config import Config

__all__ = ["AlertResult", "Metrics", "error_kinds", "phases"]

log = logging.getLogger(__name__)

# The ``*_created`` series double the series count for no use in Prometheus' text format;
# this module is the only one defining metrics, so switching them off here is safe.
disable_created_metrics()  # type: ignore[no-untyped-call]

AlertResult = Literal["sent", "failed", "gave_up"]
_ALERT_RESULTS: tuple[AlertResult, ...] = ("sent", "failed", "gave_up")


def _kind(provider: str, probe: str) -> ProbeType[Any] | None:
    kinds = probe_types(provider) if provider in providers() else probe_types()
    return kinds.get(probe)


def phases(provider: str, probe: str) -> tuple[str, ...]:
    """Return the phase names `probe` of `provider` may report; others are not exported."""
    kind = _kind(provider, probe)
    return kind.phases if kind is not None else ()


def error_kinds(provider: str, probe: str) -> frozenset[ErrorKind]:
    """Return the error kinds `probe` of `provider` can report: their series are pre-created.

    Pre-creating every kind for every probe cost a third of the exposition at scale
    (BENCHMARKS.md F2) for series that can never move; a kind outside its probe's set
    is still counted, its series just appears on first use. A probe nobody
    registered gets every kind.
    """
    kind = _kind(provider, probe)
    return kind.error_kinds if kind is not None else frozenset(ErrorKind)


def _histogram_phase(provider: str, probe: str) -> str | None:
    """Return the phase `probe` observes into sttwatch_stream_first_transcript_seconds."""
    kind = _kind(provider, probe)
    return kind.histogram_phase if kind is not None else None


# Probe runs take from ~50 ms (a warm GET) to the 120 s ceiling of a slow transcription.
_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
# Time to the first streaming transcript: sub-second is good, several seconds is an incident.
_FIRST_TRANSCRIPT_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
# Scheduler lateness is milliseconds when healthy; seconds means a starved event loop.
_LATENESS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _JobSeries:
    """The children of one (target, probe) that every result or scheduled run updates.

    Each is created on first use, exactly when a ``labels()`` lookup would have
    created it, so what the exposition holds does not change; only the lookup
    (argument checks and a hash under a lock, ~10 per result) is done once.
    The job also keeps what its provider's kind exports (phases, histogram phase).
    """

    __slots__ = (
        "duration",
        "histogram_phase",
        "labels",
        "last",
        "lateness",
        "location",
        "phases",
        "probe",
        "provider",
        "runs",
        "target",
    )

    def __init__(self, target: str, provider: str, probe: str, location: str) -> None:
        self.target, self.provider, self.probe = target, provider, probe
        self.location = location
        self.labels = (target, provider, probe, location)  # in the order of `tp`
        self.phases = phases(provider, probe)
        self.histogram_phase = _histogram_phase(provider, probe)
        self.runs: dict[Status, Counter] = {}
        self.duration: Histogram | None = None
        self.lateness: Histogram | None = None
        self.last: tuple[Gauge, Gauge, Gauge] | None = None


class Metrics:
    """Every sttwatch metric, in a registry of its own; ``observe`` is a result sink."""

    def __init__(self, config: Config | None = None, *, version: str = __version__) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Each result updates ~10 series of its job; `labels()` validates and hashes
        # its arguments under a lock every time, so a job's children are kept here.
        self._jobs: dict[tuple[str, str], _JobSeries] = {}
        # Each target's provider, from the config; a target it does not name (a result
        # recorded without a config) is taken to be of the first registered provider.
        self._providers: dict[str, str] = {}
        self._default_provider = next(iter(providers()))
        # The agent's location, on every series (docs/locations.md): one config, many agents.
        self.location = config.location if config is not None else LOCAL
        r = self.registry
        tp = ("target", "provider", "probe", "location")
        self.probe_success = Gauge(
            "sttwatch_probe_success",
            "1 if the last run of the probe was up or degraded, 0 if it was down.",
            tp,
            registry=r,
        )
        self.probe_status = Gauge(
            "sttwatch_probe_status",
            "Status of the last run of the probe: 0 up, 1 degraded, 2 down.",
            tp,
            registry=r,
        )
        self.probe_duration = Histogram(
            "sttwatch_probe_duration_seconds",
            "Wall time of a whole probe run, in seconds.",
            tp,
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.probe_phase = Gauge(
            "sttwatch_probe_phase_seconds",
            "Duration of each phase of the last probe run, in seconds.",
            (*tp, "phase"),
            registry=r,
        )
        self.probe_runs = Counter(
            "sttwatch_probe_runs",
            "Probe runs by resulting status (up, degraded, down).",
            (*tp, "status"),
            registry=r,
        )
        self.probe_errors = Counter(
            "sttwatch_probe_errors",
            "Down probe runs by error kind (the ErrorKind vocabulary of docs/design.md).",
            (*tp, "error_kind"),
            registry=r,
        )
        self.probe_last_run = Gauge(
            "sttwatch_probe_last_run_timestamp_seconds",
            "Unix time at which the last run of the probe started.",
            tp,
            registry=r,
        )
        self.probe_skipped = Counter(
            "sttwatch_probe_skipped",
            "Scheduled runs not started because the previous run was still going "
            "or the scheduler fell behind.",
            tp,
            registry=r,
        )
        self.transcription_wer = Gauge(
            "sttwatch_transcription_wer",
            "Word error rate of the last transcript against the reference text (0 is perfect).",
            tp,
            registry=r,
        )
        self.stream_first_transcript = Histogram(
            "sttwatch_stream_first_transcript_seconds",
            "Time from the first streamed audio frame to the first transcript, in seconds.",
            tp,
            buckets=_FIRST_TRANSCRIPT_BUCKETS,
            registry=r,
        )
        self.deletions_pending = Gauge(
            "sttwatch_deletions_pending",
            "Transcripts created by probes whose deletion is not yet confirmed.",
            ("target", "provider", "location"),
            registry=r,
        )
        self.alerts_sent = Counter(
            "sttwatch_alerts_sent",
            "Alert notifications by delivery result (sent, failed, gave_up).",
            ("result",),
            registry=r,
        )
        self.webhooks_refused = Counter(
            "sttwatch_webhook_refused",
            "Calls to the webhook receiver refused, by reason (none is stored).",
            ("reason",),
            registry=r,
        )
        self.scheduler_lateness = Histogram(
            "sttwatch_scheduler_lateness_seconds",
            "How late a probe run started after its due time, in seconds.",
            tp,
            buckets=_LATENESS_BUCKETS,
            registry=r,
        )
        self.build_info = Gauge(
            "sttwatch_build_info",
            "Always 1; the version label says which sttwatch is running.",
            ("version",),
            registry=r,
        )
        self.build_info.labels(version=version).set(1)
        self.quorum = Gauge(
            "sttwatch_quorum",
            "Locations that must see a component down or degraded (config quorum; 0: majority).",
            registry=r,
        )
        self.leader = Gauge(
            "sttwatch_leader",
            "1 while this agent leads (alerting, rendering, pruning run here), else 0.",
            ("location",),
            registry=r,
        )
        for result in _ALERT_RESULTS:
            self.alerts_sent.labels(result=result)
        for reason in REFUSALS:
            self.webhooks_refused.labels(reason=reason)
        if config is not None:
            self.preinitialise(config)

    def preinitialise(self, config: Config) -> None:
        """Create the zero-valued series of every configured target and probe (and leadership)."""
        # The Prometheus rules' quorum reads this (prometheus/rules/sttwatch.yml).
        self.quorum.set(0 if config.quorum == "majority" else config.quorum)
        self.leader.labels(location=config.location).set(0)
        for target in config.targets:
            self._providers[target.name] = target.provider
            self.deletions_pending.labels(target.name, target.provider, self.location).set(0)
            for probe in target.probes.enabled():
                job = self._job(target.name, probe)
                for status in Status:
                    self._runs(job, status)
                for kind in error_kinds(target.provider, probe):
                    self.probe_errors.labels(*job.labels, kind.value)
                self._duration(job)
                self.probe_skipped.labels(*job.labels)
                self._lateness(job)
                if job.histogram_phase is not None:
                    self.stream_first_transcript.labels(*job.labels)

    async def observe(self, result: ProbeResult) -> None:
        """Record one probe result (a ResultSink); returns when the metrics are updated."""
        self.record(result)

    def _provider(self, target: str) -> str:
        return self._providers.get(target, self._default_provider)

    def _job(self, target: str, probe: str) -> _JobSeries:
        """Return the kept children of one (target, probe)."""
        key = (target, probe)
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = _JobSeries(target, self._provider(target), probe, self.location)
        return job

    def _runs(self, job: _JobSeries, status: Status) -> Counter:
        child = job.runs.get(status)
        if child is None:
            child = job.runs[status] = self.probe_runs.labels(*job.labels, status.value)
        return child

    def _duration(self, job: _JobSeries) -> Histogram:
        if job.duration is None:
            job.duration = self.probe_duration.labels(*job.labels)
        return job.duration

    def _lateness(self, job: _JobSeries) -> Histogram:
        if job.lateness is None:
            job.lateness = self.scheduler_lateness.labels(*job.labels)
        return job.lateness

    def record(self, result: ProbeResult) -> None:
        """Record one probe result synchronously."""
        job = self._job(result.target, result.probe)
        if job.last is None:
            job.last = (
                self.probe_success.labels(*job.labels),
                self.probe_status.labels(*job.labels),
                self.probe_last_run.labels(*job.labels),
            )
        success, status, last_run = job.last
        success.set(0 if result.status is Status.DOWN else 1)
        status.set(result.status.severity)
        self._duration(job).observe(max(result.duration_s, 0.0))
        self._runs(job, result.status).inc()
        if result.error_kind is not None:
            self.probe_errors.labels(*job.labels, result.error_kind.value).inc()
        last_run.set(result.started_at.timestamp())
        self._record_phases(result)
        labels = job.labels
        wer = result.details.get("wer")
        if isinstance(wer, int | float) and not isinstance(wer, bool) and math.isfinite(wer):
            self.transcription_wer.labels(*labels).set(wer)
        phase = job.histogram_phase
        first = result.phases.get(phase) if phase is not None else None
        if first is not None and first >= 0:
            self.stream_first_transcript.labels(*labels).observe(first)

    def _record_phases(self, result: ProbeResult) -> None:
        job = self._job(result.target, result.probe)
        known = job.phases
        for phase in known:
            labels = (*job.labels, phase)
            seconds = result.phases.get(phase)
            if seconds is None:
                # "Last run" semantics: a phase the last run never reached has no value,
                # rather than a stale one from an earlier, longer run.
                with contextlib.suppress(KeyError):
                    self.probe_phase.remove(*labels)
            else:
                self.probe_phase.labels(*labels).set(seconds)
        unknown = set(result.phases).difference(known)
        if unknown:
            log.debug("dropping unknown phases %s of probe %s", sorted(unknown), result.probe)

    def set_deletions_pending(self, counts: Mapping[str, int]) -> None:
        """Set the deletion backlog of every target in `counts` (absent targets keep theirs)."""
        for target, count in counts.items():
            self.deletions_pending.labels(target, self._provider(target), self.location).set(count)

    def observe_lateness(self, target: str, probe: str, seconds: float) -> None:
        """Record how late (seconds, >= 0) a scheduled run started."""
        self._lateness(self._job(target, probe)).observe(max(seconds, 0.0))

    def probe_skipped_run(self, target: str, probe: str, count: int = 1) -> None:
        """Count `count` scheduled runs of a probe that did not start."""
        self.probe_skipped.labels(*self._job(target, probe).labels).inc(count)

    def webhook_refused(self, reason: str) -> None:
        """Count one call the webhook receiver refused (`reason` from its closed vocabulary)."""
        if reason not in REFUSALS:
            raise ValueError(f"webhook refusal reason must be one of {REFUSALS}, got {reason!r}")
        self.webhooks_refused.labels(reason=reason).inc()

    def alert_sent(self, result: AlertResult) -> None:
        """Count one alert notification with its delivery `result`."""
        if result not in _ALERT_RESULTS:
            raise ValueError(f"alert result must be one of {_ALERT_RESULTS}, got {result!r}")
        self.alerts_sent.labels(result=result).inc()

    def set_leader(self, location: str, leading: bool) -> None:
        """Say whether this agent, in `location`, leads (``sttwatch_leader{location}``)."""
        self.leader.labels(location=location).set(1 if leading else 0)

    def exposition(self) -> bytes:
        """Return the registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)
