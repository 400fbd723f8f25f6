"""The sample frames of docs/protocol.md are test data (tests/data/frames/): each decodes into
its frame class and encodes back to the same JSON, so the document cannot drift from the code.

The document writes some parts as placeholders ({room}, {message}, [message, ...], {you}); they
are filled from the document's own definitions of a room and a message. The data files are
exactly the document's samples, in the document's order (their names start with that order).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gochat import protocol

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "protocol.md"
FRAMES = Path(__file__).resolve().parent / "data" / "frames"
YOU = '{"id": 2, "username": "bob"}'


def _balanced(text: str, start: int) -> str:
    """The JSON object that starts at ``text[start]`` ({ ... } with its nested braces)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
    raise AssertionError(f"unbalanced braces from {text[start : start + 40]!r}")


def document_frames() -> list[tuple[str, dict[str, Any]]]:
    """Every ``→`` (client) and ``←`` (server) sample in the document, placeholders filled."""
    text = DOCUMENT.read_text(encoding="utf-8")
    room = _balanced(text, text.index("{", text.index("room    =")))
    message = _balanced(text, text.index("{", text.index("message =")))
    samples = []
    for match in re.finditer(r"^([→←]) ", text, flags=re.MULTILINE):
        raw = _balanced(text, match.end())
        filled = (
            raw.replace("{room}", room)
            .replace("[message, ...]", f"[{message}]")
            .replace("{message}", message)
            .replace("{you}", YOU)
        )
        samples.append(("client" if match.group(1) == "→" else "server", json.loads(filled)))
    return samples


def data_frames() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name.split("-")[1], json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(FRAMES.glob("*.json"))
    ]


def test_the_data_files_are_the_documents_samples() -> None:
    assert document_frames() == data_frames()


@pytest.mark.parametrize("path", sorted(FRAMES.glob("*-client-*.json")), ids=lambda path: path.stem)
def test_client_sample_decodes_and_encodes_back(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    frame = protocol.decode_client_frame(text)
    assert json.loads(protocol.encode_client_frame(frame)) == json.loads(text)


@pytest.mark.parametrize("path", sorted(FRAMES.glob("*-server-*.json")), ids=lambda path: path.stem)
def test_server_sample_decodes_and_encodes_back(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    frame = protocol.decode_server_frame(text)
    assert not isinstance(frame, protocol.UnknownFrame), "every documented server frame has a class"
    assert json.loads(protocol.encode_server_frame(frame)) == json.loads(text)


def test_every_server_msgtype_has_a_sample() -> None:
    documented = {json.loads(path.read_text(encoding="utf-8"))["msgType"] for path in FRAMES.glob("*-server-*.json")}
    assert documented == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
