"""Downloading an ``audio_url``, with the size and time limits of the scenario.

A failed download is not an exception but the job's ``error`` text, worded as
the real API words it (the documented download-error sentences).
"""

from __future__ import annotations

import asyncio

import aiohttp

from .scenario import AudioFetch

_CHUNK = 64 * 1024


def download_error(url: str) -> str:
    """Return the real API's error for a URL it could not download."""
    return (
        f"Download error, unable to download {url}. "
        "Please make sure the file exists and is accessible from the internet."
    )


def http_error(url: str, status: int, reason: str | None) -> str:
    """Return the real API's error for a download answered with an HTTP error status."""
    side = "Client" if status < 500 else "Server"
    return f"Download error to {url}, {status} {side} Error: {reason or ''} for url: {url}"


def too_large(url: str, limit: int) -> str:
    """Return the error for a file over the simulator's size limit (not a real API wording)."""
    return f"Download error, unable to download {url}. The file is larger than {limit} bytes."


async def download(session: aiohttp.ClientSession, url: str, limits: AudioFetch) -> bytes | str:
    """Return the bytes at ``url``, or the job error text if they cannot be had."""
    try:
        async with asyncio.timeout(limits.timeout_s):
            async with session.get(url) as response:
                if response.status >= 400:
                    return http_error(url, response.status, response.reason)
                length = response.content_length
                if length is not None and length > limits.max_bytes:
                    return too_large(url, limits.max_bytes)
                data = bytearray()
                async for chunk in response.content.iter_chunked(_CHUNK):
                    data += chunk
                    if len(data) > limits.max_bytes:
                        return too_large(url, limits.max_bytes)
                return bytes(data)
    except (TimeoutError, aiohttp.ClientError, ValueError):
        # Refused, unresolvable, reset, too slow, or not a URL aiohttp can use.
        return download_error(url)
