"""Deepgram: its three probe kinds, its endpoints per region, and its simulator.

The kinds share AssemblyAI's names (``reachability``, ``transcription``,
``streaming``) and meaning for users; their phases are Deepgram's own: a
transcription is one synchronous request with nothing to delete, a stream
ends with ``Finalize``, ``CloseStream`` and ``Metadata``. The implementations
are imported when a probe first runs, so reading the registry stays light.
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
from monitor.providers.deepgram.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec

__all__ = ["PROVIDER", "REACHABILITY", "STREAMING", "TRANSCRIPTION"]


REACHABILITY: ProbeType[ReachabilitySpec] = ProbeType(
    name="reachability",
    label="REST API",
    spec=ReachabilitySpec,
    run=lazy_run("monitor.providers.deepgram.reachability"),
    phases=("dns", "connect", "ttfb", "transfer", "total"),
    key_phase="total",
    key_label="Response time",
    error_kinds=NETWORK_ERRORS,
    details_help={
        "http_status": "the HTTP status of the project list",
        "body_bytes": "the size of its body",
        "api_error": "the API's own error sentence",
        "dg_request_id": "Deepgram's request id of a failed answer",
    },
    impact="critical",
    page_facts=(PageFact("Median, 24 h", "median", "median"),),
    default_enabled=True,
)

TRANSCRIPTION: ProbeType[TranscriptionSpec] = ProbeType(
    name="transcription",
    label="Transcription",
    spec=TranscriptionSpec,
    run=lazy_run("monitor.providers.deepgram.transcription"),
    phases=("transcribe", "verify", "request_log"),
    key_phase="transcribe",
    key_label="Turnaround",
    error_kinds=NETWORK_ERRORS | {ErrorKind.INACCURATE},
    details_help={
        "request_id": "Deepgram's id of the transcription request",
        "wer": "word error rate of the transcript against the reference",
        "text": "the transcript (truncated)",
        "turnaround_s": "seconds from sending the clip to the whole answer (the key latency)",
        "duration_s": "the audio length the answer reports",
        "model": "the model the answer says it used",
        "mip_opt_out": "whether the request log shows the Model Improvement Program opt-out",
        "api_error": "the API's own error sentence",
        "dg_request_id": "Deepgram's request id of a failed answer",
    },
    page_facts=(
        PageFact("Turnaround, 24 h mean", "turnaround", "phase_mean", "transcribe"),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    page_note="Deepgram keeps no transcript, so there is nothing to delete",
    default_enabled=True,
)

STREAMING: ProbeType[StreamingSpec] = ProbeType(
    name="streaming",
    label="Streaming",
    spec=StreamingSpec,
    run=lazy_run("monitor.providers.deepgram.streaming"),
    phases=("connect", "first_transcript", "first_final", "finalize", "close"),
    key_phase="first_transcript",
    key_label="Time to first transcript",
    key_short="first text",
    error_kinds=NETWORK_ERRORS
    | {ErrorKind.STREAM_CLOSED, ErrorKind.STREAM_NO_TRANSCRIPT, ErrorKind.INACCURATE},
    details_help={
        "audio_s": "seconds of audio sent",
        "frames": "audio frames sent",
        "wer": "word error rate of the final Results against the reference",
        "text": "the final text (truncated)",
        "first_transcript_s": "seconds from the first audio frame to the first text",
        "request_id": "the request id of the session's Metadata",
        "close_code": "the WebSocket close code",
        "close_reason": "the close reason (truncated)",
        "error": "the text of an Error message the server sent",
        "api_error": "the dg-error of a refused upgrade",
    },
    histogram_phase="first_transcript",
    page_facts=(
        PageFact(
            "First transcript, 24 h mean", "first_transcript", "phase_mean", "first_transcript"
        ),
        PageFact("First final, 24 h mean", "first_final", "phase_mean", "first_final"),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    default_enabled=True,
)

PROVIDER = Provider(
    name="deepgram",
    label="Deepgram",
    probes=(REACHABILITY, TRANSCRIPTION, STREAMING),
    # Paths are the same on every host; regional hosts never fall back to another region.
    # Whether they serve the Manage API (/v1/projects) is unverified: see ReachabilitySpec.path.
    regions={
        "global": Endpoints("https://api.deepgram.com", "wss://api.deepgram.com"),
        "eu": Endpoints("https://api.eu.deepgram.com", "wss://api.eu.deepgram.com"),
        "us": Endpoints("https://api.us.deepgram.com", "wss://api.us.deepgram.com"),
        "au": Endpoints("https://api.au.deepgram.com", "wss://api.au.deepgram.com"),
        "in": Endpoints("https://api.in.deepgram.com", "wss://api.in.deepgram.com"),
    },
    default_region="global",
    simulator="monitor.simulator.deepgram",
    api_key_env="DEEPGRAM_API_KEY",
    auth_scheme="Token",
)
