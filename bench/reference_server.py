"""The floor for fan-out: a plain websockets broadcast server, no auth, no storage.

Every text frame a client sends is sent to every connected client (the sender included) with
websockets.broadcast, which writes without awaiting any socket - the same rule gochat's hub
follows. gochat's benchmark figures are quoted as a ratio to this, measured in the same run.

    python bench/reference_server.py PORT
"""

from __future__ import annotations

import asyncio
import sys

import websockets
from websockets.asyncio.server import ServerConnection, serve

CLIENTS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CLIENTS.add(ws)
    try:
        async for message in ws:
            websockets.broadcast(CLIENTS, message)
    finally:
        CLIENTS.discard(ws)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=None, compression=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(int(sys.argv[1])))
    else:
        uvloop.run(main(int(sys.argv[1])))
