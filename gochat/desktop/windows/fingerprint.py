"""A certificate fingerprint as people compare it (the hosting panel, the first-connect prompt)."""

from __future__ import annotations

from gochat.certificates import display_fingerprint

BYTES_PER_LINE = 16


def fingerprint_lines(fingerprint: str) -> str:
    """ "AB:CD:…" in lines of 16 bytes: a SHA-256 is two lines of 47 characters that fit a dialog
    and a panel (one line of 95 characters without a space would not wrap, and would make the
    window as wide as it)."""
    pairs = display_fingerprint(fingerprint).split(":")
    return "\n".join(":".join(pairs[i : i + BYTES_PER_LINE]) for i in range(0, len(pairs), BYTES_PER_LINE))
