"""The OpenAI-compatible transcription API: OpenAI, Groq and self-hosted Whisper servers.

One provider entry; a target's region (``openai``, ``groq``, ``local``) is its
flavour, whose quirks (models, response formats, which model streams, error
envelopes) are data in quirks.py. The implementations are the modules next to
this one, imported when a probe first runs, as AssemblyAI's are.
"""

from __future__ import annotations

from monitor.models import ErrorKind
from monitor.probes.registry import (
    NETWORK_ERRORS,
    Endpoints,
    PageFact,
    ProbeType,
    Provider,
    lazy_run,
)
from monitor.providers.openai.quirks import DEFAULT_FLAVOUR, FLAVOURS, Flavour, check_target
from monitor.providers.openai.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec

__all__ = ["PROVIDER", "REACHABILITY", "STREAMING", "TRANSCRIPTION"]


_COMMON_DETAILS = {
    "flavour": "which server's habits the probe expected (openai, groq, local)",
    "model": "the model the probe checked",
    "http_status": "the HTTP status of the answer",
    "api_error": "what the API's error body said",
    "api_error_code": "the error code of the API's error body (e.g. insufficient_quota)",
    "x_request_id": "the API's request id (quote it to the provider's support)",
    "x_ratelimit_remaining_requests": "requests left in the rate-limit window",
    "x_ratelimit_reset_requests": "when the rate-limit window refills (e.g. 1.2s)",
}

REACHABILITY: ProbeType[ReachabilitySpec] = ProbeType(
    name="reachability",
    label="REST API",
    spec=ReachabilitySpec,
    run=lazy_run("monitor.providers.openai.reachability"),
    phases=("dns", "connect", "ttfb", "transfer", "total"),
    key_phase="total",
    key_label="Response time",
    error_kinds=NETWORK_ERRORS | {ErrorKind.MODEL_MISSING},
    details_help={
        **_COMMON_DETAILS,
        "body_bytes": "the size of the model list",
        "models": "how many models the list names",
    },
    impact="critical",
    page_facts=(PageFact("Median, 24 h", "median", "median"),),
    default_enabled=True,
)

TRANSCRIPTION: ProbeType[TranscriptionSpec] = ProbeType(
    name="transcription",
    label="Transcription",
    spec=TranscriptionSpec,
    run=lazy_run("monitor.providers.openai.transcription"),
    phases=("upload", "processing", "download", "verify"),
    key_phase="turnaround",
    key_parts=("upload", "processing", "download"),
    key_label="Turnaround",
    error_kinds=NETWORK_ERRORS | {ErrorKind.INACCURATE, ErrorKind.MODEL_MISSING},
    page_note="The API keeps no transcript of the clip, so there is nothing to delete",
    details_help={
        **_COMMON_DETAILS,
        "response_format": "the response format asked for (verbose_json where the model has it)",
        "wer": "word error rate of the transcript against the reference",
        "text": "the transcript (truncated)",
        "turnaround_s": "seconds from the first byte sent to the last byte of the answer",
        "openai_processing_ms": "the server's own processing time (OpenAI's header)",
    },
    page_facts=(
        PageFact("Processing, 24 h mean", "processing", "phase_mean", "processing"),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    default_enabled=True,
)

STREAMING: ProbeType[StreamingSpec] = ProbeType(
    name="streaming",
    label="Streaming",
    spec=StreamingSpec,
    run=lazy_run("monitor.providers.openai.streaming"),
    phases=("upload", "first_transcript", "final"),
    key_phase="first_transcript",
    key_label="Time to first transcript",
    key_short="first text",
    error_kinds=NETWORK_ERRORS
    | {
        ErrorKind.STREAM_CLOSED,
        ErrorKind.STREAM_NO_TRANSCRIPT,
        ErrorKind.INACCURATE,
        ErrorKind.MODEL_MISSING,
    },
    details_help={
        **_COMMON_DETAILS,
        "deltas": "text deltas the stream carried",
        "wer": "word error rate of the final text against the reference",
        "text": "the final text (truncated)",
        "first_transcript_s": "seconds from the end of the upload to the first text delta",
    },
    histogram_phase="first_transcript",
    page_facts=(
        PageFact(
            "First transcript, 24 h mean", "first_transcript", "phase_mean", "first_transcript"
        ),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    # Only some models stream (OpenAI's gpt-4o family): a target asks for it.
    default_enabled=False,
)


def _endpoints(flavour: Flavour) -> Endpoints:
    # No WebSocket API here (stream=true is Server-Sent Events over the REST base URL);
    # the streaming base is the same host in ws form, never used.
    base = flavour.api_base
    return Endpoints(
        base,
        "ws" + base.removeprefix("http"),
        api_key_env=flavour.api_key_env,
        key_required=flavour.key_required,
    )


PROVIDER = Provider(
    name="openai",
    label="OpenAI-compatible",
    probes=(REACHABILITY, TRANSCRIPTION, STREAMING),
    regions={name: _endpoints(f) for name, f in FLAVOURS.items()},
    default_region=DEFAULT_FLAVOUR,
    simulator="monitor.simulator.openai",
    api_key_env="OPENAI_API_KEY",
    auth_scheme="Bearer",
    check_target=check_target,
)
