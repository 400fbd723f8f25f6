"""A hub connection that is a list: the server's chat logic tested without sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from gochat import protocol
from gochat.server.hub import next_connection_id
from gochat.server.records import UserRecord


@dataclass
class MemoryConnection:
    user: UserRecord
    token_hash: str = "t"
    id: int = field(default_factory=next_connection_id)
    frames: list[str] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    used: bool = False

    def deliver(self, frame: str) -> None:
        self.frames.append(frame)

    def offer(self, frame: str) -> bool:
        self.frames.append(frame)
        return True

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def received(self) -> list[protocol.ServerFrame]:
        """What was delivered, decoded as a client decodes it."""
        return [protocol.decode_server_frame(frame) for frame in self.frames]
