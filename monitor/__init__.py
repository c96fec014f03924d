"""sttwatch: a self-hosted uptime and health monitor for speech-to-text APIs."""

from __future__ import annotations

__version__ = "0.1.0"
