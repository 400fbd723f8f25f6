"""Client worker processes for the benchmarks: started with spawn (no forked event loop or
server state), each talking to the parent over a pipe."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")


def default_worker_count() -> int:
    """Client processes by default: one per core of this machine (``--workers`` sets another)."""
    return os.cpu_count() or 1


def shares(items: Sequence[T], worker_count: int) -> list[list[T]]:
    """``items`` dealt round-robin to at most ``worker_count`` client processes, none empty."""
    dealt = [list(items[i::worker_count]) for i in range(worker_count)]
    return [share for share in dealt if share]


def start_workers(
    target: Callable[..., None], arguments: Sequence[tuple[Any, ...]]
) -> tuple[list[Connection], list[BaseProcess]]:
    """One process per argument tuple, each called as target(*arguments, pipe)."""
    context = multiprocessing.get_context("spawn")
    pipes: list[Connection] = []
    workers: list[BaseProcess] = []
    for args in arguments:
        parent, child = context.Pipe()
        worker = context.Process(target=target, args=(*args, child))
        worker.start()
        child.close()  # ours is the other end; a dead worker then reads as EOF, not a hang
        pipes.append(parent)
        workers.append(worker)
    return pipes, workers


def wait_for(pipe: Connection, timeout: float) -> Any:
    """The worker's next message, or RuntimeError if it sends none in time (or died)."""
    if not pipe.poll(timeout):
        raise RuntimeError(f"a client worker said nothing for {timeout:.0f} s")
    return pipe.recv()


def connect_and_drain(pipes: Sequence[Connection], timeout: float = 600) -> None:
    """The room clients' start: every worker has connected, then (told to drain the entry
    announcements before the clock starts) every one is ready."""
    for stage in ("connected", "ready"):
        for pipe in pipes:
            if wait_for(pipe, timeout) != stage:
                raise RuntimeError(f"a client worker did not get {stage}")
        if stage == "connected":
            for pipe in pipes:
                pipe.send("drain")


def stop_workers(workers: Sequence[BaseProcess], timeout: float = 60) -> None:
    """Wait for workers that were told to finish; kill any that do not within ``timeout``."""
    for worker in workers:
        worker.join(timeout)
        if worker.is_alive():
            worker.kill()
            worker.join()


@contextlib.contextmanager
def killed_on_error(workers: Sequence[BaseProcess]) -> Iterator[None]:
    """If the run fails, end its workers at once: they would wait on their pipes for ever, and
    the interpreter waits for its children before it exits."""
    try:
        yield
    except BaseException:
        for worker in workers:
            worker.kill()
            worker.join()
        raise
