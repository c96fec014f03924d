"""What a completed transcript exports: sentences, paragraphs, SRT/VTT captions, word search.

All of it is derived from the transcript's words (``Job.result_words()``), so
every export agrees with ``words`` in timing and text.
"""

from __future__ import annotations

from typing import Any

from .clips import normalise_word

Word = dict[str, Any]

# A pause this long between two sentences starts a new paragraph ...
PARAGRAPH_PAUSE_MS = 1000
# ... and so does this many sentences in one paragraph.
PARAGRAPH_SENTENCES = 5
# Caption length when the client does not set chars_per_caption.
DEFAULT_CHARS_PER_CAPTION = 80
_SENTENCE_ENDS = (".", "!", "?")


def _span(words: list[Word]) -> dict[str, Any]:
    confidence = sum(w["confidence"] for w in words) / len(words)
    return {
        "text": " ".join(w["text"] for w in words),
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "confidence": round(confidence, 6),
        "words": words,
    }


def sentences(words: list[Word]) -> list[dict[str, Any]]:
    """Return the words grouped into sentences (a sentence ends on . ! or ?)."""
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        current.append(word)
        if word["text"].endswith(_SENTENCE_ENDS):
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return [{**_span(group), "speaker": group[0]["speaker"]} for group in groups]


def paragraphs(words: list[Word]) -> list[dict[str, Any]]:
    """Return the sentences grouped into paragraphs (split at long pauses and every few)."""
    groups: list[list[Word]] = []
    count = 0
    last_end: int | None = None
    for sentence in sentences(words):
        pause = sentence["start"] - last_end if last_end is not None else 0
        if not groups or pause >= PARAGRAPH_PAUSE_MS or count >= PARAGRAPH_SENTENCES:
            groups.append([])
            count = 0
        groups[-1].extend(sentence["words"])
        count += 1
        last_end = sentence["end"]
    return [_span(group) for group in groups]


def captions(words: list[Word], chars_per_caption: int | None) -> list[tuple[int, int, str]]:
    """Return (start, end, text) captions of at most ``chars_per_caption`` characters.

    A word longer than the limit gets a caption of its own rather than being cut.
    """
    limit = chars_per_caption or DEFAULT_CHARS_PER_CAPTION
    out: list[tuple[int, int, str]] = []
    current: list[Word] = []
    for word in words:
        text = " ".join(w["text"] for w in [*current, word])
        if current and len(text) > limit:
            out.append(
                (current[0]["start"], current[-1]["end"], " ".join(w["text"] for w in current))
            )
            current = []
        current.append(word)
    if current:
        out.append((current[0]["start"], current[-1]["end"], " ".join(w["text"] for w in current)))
    return out


def _clock(ms: int, separator: str, hours: bool) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms_part = divmod(rest, 1000)
    head = f"{h:02d}:" if hours or h else ""
    return f"{head}{m:02d}:{s:02d}{separator}{ms_part:03d}"


def srt(words: list[Word], chars_per_caption: int | None) -> str:
    """Return the words as SubRip captions."""
    blocks = [
        f"{index}\n{_clock(start, ',', True)} --> {_clock(end, ',', True)}\n{text}\n"
        for index, (start, end, text) in enumerate(captions(words, chars_per_caption), 1)
    ]
    return "\n".join(blocks)


def vtt(words: list[Word], chars_per_caption: int | None) -> str:
    """Return the words as WebVTT captions (MM:SS.mmm under an hour, as the API writes them)."""
    cues = [
        f"{_clock(start, '.', False)} --> {_clock(end, '.', False)}\n{text}\n"
        for start, end, text in captions(words, chars_per_caption)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def word_search(words: list[Word], terms: list[str]) -> dict[str, Any]:
    """Return the ``WordSearchResponse`` body (without ``id``) for ``terms``.

    Matching ignores case and punctuation; a term of several words matches
    them in sequence and reports the index of its first word.
    """
    heard = [normalise_word(w["text"]) for w in words]
    matches = []
    for term in terms:
        wanted = [normalise_word(t) for t in term.split()]
        wanted = [t for t in wanted if t]
        if not wanted:
            continue
        spans = [
            i for i in range(len(heard) - len(wanted) + 1) if heard[i : i + len(wanted)] == wanted
        ]
        matches.append(
            {
                "text": term,
                "count": len(spans),
                "timestamps": [
                    [words[i]["start"], words[i + len(wanted) - 1]["end"]] for i in spans
                ],
                "indexes": spans,
            }
        )
    return {"total_count": sum(m["count"] for m in matches), "matches": matches}
