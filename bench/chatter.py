"""Deterministic chat-like text for seeded history and live load: short replies, sentences that
wrap, the odd multi-line message and some Chinese and emoji, so the delegate lays out what a
real room holds rather than one repeated string."""

from __future__ import annotations

WORDS = (
    *("ok", "sure", "thanks", "deploy", "build", "review", "the", "branch", "merge", "tomorrow", "lunch"),
    *("meeting", "coffee", "server", "client", "window", "scroll", "message", "latency", "memory", "profile"),
    *("test", "fixed", "broken", "works", "again", "later", "tonight", "weekend", "ticket", "release", "notes"),
    *("docs", "benchmark", "queue", "database", "index", "cache", "restart"),
)
EXTRAS = ("你好", "谢谢", "没问题", "😀", "👍", "🎉", "明天见")


def chat_text(n: int) -> str:
    """The n-th line of a made-up conversation (same n, same text)."""
    state = (n * 2654435761 + 12345) & 0xFFFFFFFF
    shape = state % 10
    if shape < 4:  # a short reply
        length = 1 + state % 5
    elif shape < 8:  # a sentence or two, wrapping in a narrow window
        length = 8 + state % 25
    else:  # a long message
        length = 40 + state % 40
    words = []
    for i in range(length):
        state = (state * 1103515245 + 12345) & 0x7FFFFFFF
        words.append(EXTRAS[state % len(EXTRAS)] if state % 23 == 0 else WORDS[state % len(WORDS)])
        if shape == 9 and i % 15 == 14:
            words.append("\n")
    return " ".join(words).replace(" \n ", "\n").strip()
