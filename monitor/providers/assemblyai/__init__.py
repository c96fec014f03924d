"""AssemblyAI: its four probe kinds, its endpoints per region, and its simulator.

Each kind's descriptor is here; the implementations (and the wire details they
share) are the modules next to this one, imported when a probe first runs so
that reading the registry (config validation, the store, the page) does not
load the HTTP client.
"""

from __future__ import annotations

from monitor.models import ErrorKind
from monitor.probes.registry import (
    NETWORK_ERRORS,
    Endpoints,
    PageFact,
    ProbeType,
    Provider,
    StoredForm,
    lazy_run,
)
from monitor.providers.assemblyai.specs import (
    ReachabilitySpec,
    StreamingSpec,
    TranscriptionSpec,
    WebhookSpec,
)

__all__ = ["PROVIDER", "REACHABILITY", "STREAMING", "TRANSCRIPTION", "WEBHOOK"]


# The transcript of the bundled probe clip as each API returns it when it is exact.
_CLIP_TEXT_REST = "The quick brown fox jumps over the lazy dog."
_CLIP_TEXT_STREAMING = "the quick brown fox jumps over the lazy dog"

REACHABILITY: ProbeType[ReachabilitySpec] = ProbeType(
    name="reachability",
    label="REST API",
    spec=ReachabilitySpec,
    run=lazy_run("monitor.providers.assemblyai.reachability"),
    phases=("dns", "connect", "ttfb", "transfer", "total"),
    key_phase="total",
    key_label="Response time",
    error_kinds=NETWORK_ERRORS,
    details_help={
        "http_status": "the HTTP status of the transcript list",
        "body_bytes": "the size of its body",
    },
    # The REST API failing means nothing works.
    impact="critical",
    page_facts=(PageFact("Median, 24 h", "median", "median"),),
    stored=StoredForm(
        phases=("dns", "connect", "ttfb", "transfer", "total"),
        detail_order=("http_status", "body_bytes"),
        up_wording="API reachable: transcript list answered",
        up_latency=("phase", "total"),
        good_details_v1={"http_status": 200},
        good_details_v2={"http_status": 200},
    ),
    default_enabled=True,
)

TRANSCRIPTION: ProbeType[TranscriptionSpec] = ProbeType(
    name="transcription",
    label="Transcription",
    spec=TranscriptionSpec,
    run=lazy_run("monitor.providers.assemblyai.transcription"),
    phases=("upload", "submit", "queued", "processing", "verify", "delete", "confirm"),
    key_phase="turnaround",
    key_parts=("submit", "queued", "processing"),
    key_label="Turnaround",
    error_kinds=NETWORK_ERRORS
    | {
        ErrorKind.TRANSCRIPTION_FAILED,
        ErrorKind.JOB_TIMEOUT,
        ErrorKind.INACCURATE,
        ErrorKind.DELETION_FAILED,
    },
    details_help={
        "transcript_id": "the id of the transcript the run created",
        "wer": "word error rate of the transcript against the reference",
        "text": "the transcript (truncated)",
        "queue_s": "seconds the job was queued",
        "processing_s": "seconds the job was processing",
        "turnaround_s": "seconds from submit to a terminal status (the key latency)",
        "speech_model_used": "the model the API says it used",
        "deletion": "what happened to a transcript that could not be deleted",
        "api_error": "why the API says the job failed",
        "ledger_error": "why the deletion ledger could not record the id",
    },
    creates_test_data=True,
    page_facts=(
        PageFact("Queue, 24 h mean", "queue", "phase_mean", "queued"),
        PageFact("Processing, 24 h mean", "processing", "phase_mean", "processing"),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    stored=StoredForm(
        phases=("upload", "submit", "queued", "processing", "verify", "delete", "confirm"),
        detail_order=(
            "http_status",
            "transcript_id",
            "queue_s",
            "processing_s",
            "turnaround_s",
            "speech_model_used",
            "wer",
            "text",
        ),
        up_wording="Transcribed, verified and deleted the probe clip",
        up_latency=("detail", "turnaround_s"),
        good_details_v1={"http_status": 200},
        good_details_v2={"http_status": 200},
        text=_CLIP_TEXT_REST,
    ),
    default_enabled=True,
)

STREAMING: ProbeType[StreamingSpec] = ProbeType(
    name="streaming",
    label="Streaming",
    spec=StreamingSpec,
    run=lazy_run("monitor.providers.assemblyai.streaming"),
    phases=("token", "connect", "begin", "first_transcript", "final", "terminate"),
    key_phase="first_transcript",
    key_label="Time to first transcript",
    key_short="first text",
    error_kinds=NETWORK_ERRORS
    | {ErrorKind.STREAM_CLOSED, ErrorKind.STREAM_NO_TRANSCRIPT, ErrorKind.INACCURATE},
    details_help={
        "audio_s": "seconds of audio sent",
        "frames": "audio frames sent",
        "wer": "word error rate of the final text against the reference",
        "text": "the final text (truncated)",
        "first_transcript_s": "seconds from the first audio frame to the first text",
        "session_id": "the session id of Begin",
        "close_code": "the WebSocket close code",
        "close_reason": "the close reason (truncated)",
    },
    histogram_phase="first_transcript",
    page_facts=(
        PageFact(
            "First transcript, 24 h mean", "first_transcript", "phase_mean", "first_transcript"
        ),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    stored=StoredForm(
        phases=("token", "connect", "begin", "first_transcript", "final", "terminate"),
        detail_order=(
            "http_status",
            "audio_s",
            "frames",
            "wer",
            "text",
            "first_transcript_s",
            "session_id",
            "close_code",
            "close_reason",
        ),
        up_wording=(
            "Streamed the probe clip, verified the text and terminated the session; "
            "first transcript"
        ),
        up_latency=("phase", "first_transcript"),
        good_details_v1={"close_code": 1000, "close_reason": "", "audio_s": 2.281, "frames": 46},
        # Since 14df1a5 the clip is sent from 50 ms before its first word: 2.2 s in 44 frames.
        good_details_v2={"close_code": 1000, "close_reason": "", "audio_s": 2.2, "frames": 44},
        text=_CLIP_TEXT_STREAMING,
    ),
    default_enabled=True,
)

WEBHOOK: ProbeType[WebhookSpec] = ProbeType(
    name="webhook",
    label="Webhooks",
    spec=WebhookSpec,
    run=lazy_run("monitor.providers.assemblyai.webhook"),
    phases=("upload", "submit", "completed", "delivery", "delete", "confirm"),
    key_phase="delivery",
    key_label="Delivery delay",
    key_short="delivery",
    error_kinds=NETWORK_ERRORS
    | {
        ErrorKind.TRANSCRIPTION_FAILED,
        ErrorKind.JOB_TIMEOUT,
        ErrorKind.DELETION_FAILED,
        ErrorKind.WEBHOOK_MISSING,
        ErrorKind.WEBHOOK_EARLY,
        ErrorKind.WEBHOOK_DUPLICATE,
        ErrorKind.WEBHOOK_UNAUTHENTICATED,
        ErrorKind.WEBHOOK_MALFORMED,
    },
    details_help={
        "transcript_id": "the id of the transcript the run created",
        "completed_s": "seconds from submit to the job seen terminal",
        "delivery_s": "seconds from the job seen terminal to the webhook received (the key "
        "latency; the least the delivery can have taken)",
        "delivery_max_s": "seconds from the last poll that saw the job running to the webhook "
        "received: the most the delivery can have taken",
        "webhook_calls": "calls that carried the run's secret",
        "duplicates": "further calls for the same job within duplicate_window",
        "unauthenticated_calls": "calls on the run's URL without its secret (refused)",
        "malformed_calls": "calls with the secret that did not announce the run's job",
        "status_at_delivery": "the job's status when an early webhook came",
        "deletion": "what happened to a transcript that could not be deleted",
        "api_error": "why the API says the job failed",
        "ledger_error": "why the deletion ledger could not record the id",
    },
    creates_test_data=True,
    receives_calls=True,
    page_facts=(
        PageFact("Delivery delay, 24 h mean", "delivery", "phase_mean", "delivery"),
        PageFact("Job to completion, 24 h mean", "completed", "phase_mean", "completed"),
    ),
)

PROVIDER = Provider(
    name="assemblyai",
    label="AssemblyAI",
    probes=(REACHABILITY, TRANSCRIPTION, STREAMING, WEBHOOK),
    regions={
        "us": Endpoints("https://api.assemblyai.com", "wss://streaming.assemblyai.com"),
        "eu": Endpoints("https://api.eu.assemblyai.com", "wss://streaming.eu.assemblyai.com"),
    },
    default_region="us",
    simulator="monitor.simulator",
    api_key_env="ASSEMBLYAI_API_KEY",
    # The bare key, no scheme word (docs/protocol-assemblyai.md).
    auth_scheme="",
)
