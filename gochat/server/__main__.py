"""``python -m gochat.server``: the headless server."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from gochat.server.config import settings_from_args
from gochat.server.runner import bind_socket, loop_factory, serve, tls_problem


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from_args(argv)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    problem = tls_problem(settings)
    if problem is not None:
        logging.getLogger("gochat.server").error("%s", problem)
        return 2
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        logging.getLogger("gochat.server").error(
            "cannot listen on %s:%d: %s", settings.host, settings.port, exc.strerror or exc
        )
        return 2
    metrics_sock = None
    if settings.metrics_port is not None:
        try:
            metrics_sock = bind_socket(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            sock.close()
            logging.getLogger("gochat.server").error(
                "cannot listen for metrics on %s:%d: %s",
                settings.metrics_host,
                settings.metrics_port,
                exc.strerror or exc,
            )
            return 2
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(serve(settings, sock, metrics_sock))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
