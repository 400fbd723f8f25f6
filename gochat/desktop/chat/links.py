"""Finding links in message text: http://, https:// and www. addresses, as people paste them
into chat. Pure: no Qt, no I/O. Everything that is not a link stays plain text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A link starts at a word boundary with a scheme or "www." and runs to the next space or a
# character that cannot be in an address as typed (quotes and angle brackets usually wrap one).
_CANDIDATE = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"]+")
# Punctuation that ends a sentence rather than the address: "see https://example.com."
_TRAILING = ".,:;!?'*_~"
_CLOSERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class Link:
    """A link in a text: ``text[start:end]`` as typed, and the address it opens."""

    start: int
    end: int
    url: str


def find_links(text: str) -> list[Link]:
    links: list[Link] = []
    for match in _CANDIDATE.finditer(text):
        start, end = match.span()
        end = _trim(text, start, end)
        typed = text[start:end]
        lowered = typed.lower()
        rest = typed.split("://", 1)[1] if "://" in typed else typed[len("www.") :]
        if not rest.strip("./"):
            continue  # "http://" or "www." alone is not an address
        url = typed if lowered.startswith(("http://", "https://")) else f"http://{typed}"
        links.append(Link(start, end, url))
    return links


def _trim(text: str, start: int, end: int) -> int:
    """Drop what closes the sentence around the link, keeping brackets the address itself
    opened: https://en.wikipedia.org/wiki/Qt_(software) keeps its ")"."""
    while end > start:
        last = text[end - 1]
        if last in _TRAILING:
            end -= 1
        elif last in _CLOSERS:
            body = text[start : end - 1]
            if body.count(_CLOSERS[last]) > body.count(last):
                break
            end -= 1
        else:
            break
    return end


def link_at(links: list[Link], position: int) -> Link | None:
    """The link that covers a character position, if any."""
    for link in links:
        if link.start <= position < link.end:
            return link
    return None
