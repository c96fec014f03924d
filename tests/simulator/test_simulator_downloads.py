"""An ``audio_url`` that is not one of the simulator's uploads is downloaded, within limits.

The audio is hosted by a local aiohttp server (tests/support/outbound_peer.py); what cannot
be had ends the job as ``error`` with the real API's download-error wording.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.support.clocks import ManualClock
from tests.support.fixture_types import SimFactory
from tests.support.outbound_peer import Hosted, OutboundPeer
from tests.support.simulator import CLIP_TEXT, Api, SimulatorHandle, clip_bytes


def _download_error(url: str) -> str:
    return (
        f"Download error, unable to download {url}. "
        "Please make sure the file exists and is accessible from the internet."
    )


async def _api(
    make_sim: SimFactory, http: aiohttp.ClientSession, **audio_fetch: Any
) -> tuple[SimulatorHandle, Api]:
    handle = await make_sim({"audio_fetch": audio_fetch} if audio_fetch else None)
    return handle, Api(http, handle.base_url)


async def test_a_hosted_clip_is_downloaded_and_heard(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    peer.files["/audio/clip.wav"] = Hosted(clip_bytes(), "audio/wav")
    _, api = await _api(make_sim, http)
    url = peer.url("/audio/clip.wav")
    created = await api.create(url)
    done = await api.wait_terminal(created["id"])
    assert done["status"] == "completed", done["error"]
    assert done["text"] == CLIP_TEXT
    assert done["audio_url"] == url
    assert peer.fetches == ["/audio/clip.wav"]


@pytest.mark.parametrize(
    ("hosted", "error"),
    [
        pytest.param(
            None,
            "Download error to {url}, 404 Client Error: Not Found for url: {url}",
            id="404",
        ),
        pytest.param(
            Hosted(b"x", status=403),
            "Download error to {url}, 403 Client Error: Forbidden for url: {url}",
            id="403",
        ),
        pytest.param(
            Hosted(b"x", status=500),
            "Download error to {url}, 500 Server Error: Internal Server Error for url: {url}",
            id="500",
        ),
        pytest.param(
            Hosted(b"<html><body>Sign in</body></html>", "text/html"),
            "File does not appear to contain audio. File type is text/html (HTML document).",
            id="html-page",
        ),
        pytest.param(
            Hosted(b"\0" * 1000, "audio/wav"),
            "Audio duration is too short.",
            id="too-short",
        ),
    ],
)
async def test_what_cannot_be_heard_ends_the_job_as_error(
    make_sim: SimFactory,
    http: aiohttp.ClientSession,
    peer: OutboundPeer,
    hosted: Hosted | None,
    error: str,
) -> None:
    if hosted is not None:
        peer.files["/a.wav"] = hosted
    _, api = await _api(make_sim, http)
    url = peer.url("/a.wav")
    created = await api.create(url)
    failed = await api.wait_terminal(created["id"])
    assert failed["status"] == "error"
    assert failed["error"] == error.format(url=url)
    assert failed["text"] is None


async def test_an_unreachable_host_is_a_download_error(
    make_sim: SimFactory, http: aiohttp.ClientSession, refused_port: int
) -> None:
    _, api = await _api(make_sim, http)
    url = f"http://127.0.0.1:{refused_port}/nothing.wav"
    failed = await api.wait_terminal((await api.create(url))["id"])
    assert (failed["status"], failed["error"]) == ("error", _download_error(url))


@pytest.mark.parametrize("url", ["ftp://files.test/a.wav", "not a url", "http://"])
async def test_a_url_that_cannot_be_fetched_is_a_download_error(api_default: Api, url: str) -> None:
    failed = await api_default.wait_terminal((await api_default.create(url))["id"])
    assert (failed["status"], failed["error"]) == ("error", _download_error(url))


@pytest.fixture
async def api_default(make_sim: SimFactory, http: aiohttp.ClientSession) -> Api:
    """Return an ``Api`` on a simulator with the default download limits."""
    return (await _api(make_sim, http))[1]


@pytest.mark.parametrize("length_known", [True, False], ids=["content-length", "chunked"])
async def test_a_file_over_the_size_limit_is_refused(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer, length_known: bool
) -> None:
    big = clip_bytes()
    if length_known:
        peer.files["/big.wav"] = Hosted(big, "audio/wav")
    else:
        peer.files["/big.wav"] = Hosted(big, "audio/wav", chunked=True)
    _, api = await _api(make_sim, http, max_bytes=len(big) - 1)
    url = peer.url("/big.wav")
    failed = await api.wait_terminal((await api.create(url))["id"])
    assert failed["status"] == "error"
    assert failed["error"].startswith(f"Download error, unable to download {url}.")
    assert f"larger than {len(big) - 1} bytes" in failed["error"]


async def test_a_host_slower_than_the_time_limit_is_a_download_error(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    peer.files["/slow.wav"] = Hosted(clip_bytes(), "audio/wav", hold_s=1.0)
    _, api = await _api(make_sim, http, timeout_s=0.1)
    url = peer.url("/slow.wav")
    failed = await api.wait_terminal((await api.create(url))["id"])
    assert (failed["status"], failed["error"]) == ("error", _download_error(url))


async def test_the_job_processes_until_the_download_is_done(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    peer.files["/slow.wav"] = Hosted(clip_bytes(), "audio/wav", hold_s=0.3)
    handle, api = await _api(make_sim, http)
    clock = ManualClock()
    handle.state_obj.set_clock(clock)
    created = await api.create(peer.url("/slow.wav"))
    clock.advance(60)  # far past the scenario's job timings
    assert (await api.get(created["id"])).json["status"] == "processing"
    done = await api.wait_terminal(created["id"])
    assert done["text"] == CLIP_TEXT


async def test_wrong_text_drawn_during_the_download_still_applies(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    peer.files["/slow.wav"] = Hosted(clip_bytes(), "audio/wav", hold_s=0.2)
    handle = await make_sim(
        {
            "faults": [
                {"endpoint": "transcript.create", "action": "wrong_text", "text": "Other words."}
            ]
        }
    )
    api = Api(http, handle.base_url)
    done = await api.wait_terminal((await api.create(peer.url("/slow.wav")))["id"])
    assert done["text"] == "Other words."
    assert done["words"][-1]["end"] <= 2500  # re-timed over the downloaded clip's speech


async def test_fetching_off_hears_a_placeholder_without_any_request(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    peer.files["/clip.wav"] = Hosted(clip_bytes(), "audio/wav")
    _, api = await _api(make_sim, http, enabled=False)
    done = await api.wait_terminal((await api.create(peer.url("/clip.wav")))["id"])
    assert done["status"] == "completed" and done["text"] != CLIP_TEXT
    assert peer.fetches == []


async def test_the_error_list_item_has_no_completed_time(
    make_sim: SimFactory, http: aiohttp.ClientSession, refused_port: int
) -> None:
    _, api = await _api(make_sim, http)
    failed = await api.wait_terminal(
        (await api.create(f"http://127.0.0.1:{refused_port}/x.wav"))["id"]
    )
    done = await api.transcribe()
    items = {i["id"]: i for i in (await api.call("GET", "/v2/transcript")).json["transcripts"]}
    # As the spec's list example shows it: a failed job has "completed": null.
    assert items[failed["id"]]["completed"] is None
    assert items[done["id"]]["completed"] is not None
