"""``python -m bench``: gochat against a raw websockets reference, in the same run.

Absolute times drift on a shared machine, so each server figure is printed with the reference's
and their ratio, as the median of several runs. Results also go to a JSON file. Run it from the
repository's root (``make bench``): the benchmarks are not part of the installed package.

    python -m bench                       # fan-out at N = 100, 500, 1000 and durable ingest
    python -m bench --sizes 100 --runs 3 --messages 100
    python -m bench --skip cluster,fanout,ingest,connections,desktop   # latency at 20 messages/s, N = 500
    python -m bench --skip cluster,fanout,ingest,latency,desktop       # idle connections, N = 1,000 and 10,000
    python -m bench --skip cluster,fanout,ingest,latency,connections,hosting   # the desktop app (bench/desktop.py)
    python -m bench --skip cluster,fanout,ingest,latency,connections,desktop   # hosting vs plain (bench/hosting.py)
    python -m bench --skip cluster,fanout,ingest,latency,connections,desktop,hosting,logins  # flood beside traffic
    python -m bench --skip cluster,fanout,ingest,latency,connections,desktop,hosting,flood   # a login storm: RSS
    python -m bench --skip cluster,fanout,ingest,latency,connections,desktop,hosting,flood,logins  # search, 1,000,000
    python -m bench --skip fanout,ingest,latency,connections,desktop,hosting,flood,logins,search  # bench/cluster.py
    python -m bench --workers 4           # four client processes (default: one per CPU)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import ingest, load
from bench.cluster import bench_cluster
from bench.connections import bench_connections
from bench.desktop import bench_desktop
from bench.flood import bench_flood
from bench.hosting import bench_hosting
from bench.latency import bench_latency
from bench.logins import bench_logins
from bench.processes import connect_and_drain, default_worker_count, shares
from bench.search import bench_search, bench_search_seeded
from bench.servers import Running, cpu_seconds, start_gochat, start_reference

INGEST_SENDERS = 50  # durable ingest: each in a room of its own, each waiting for its ACK


def raise_open_files_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def fanout_once(server: Running, clients: int, messages: int, reference: bool, worker_count: int) -> dict[str, Any]:
    """N clients in one room; one sender posts M messages at once; time until all have all."""
    context = multiprocessing.get_context("spawn")
    tokens = server.tokens[1 : clients + 1]
    pipes, workers = [], []
    for share in shares(tokens, worker_count):
        parent, child = context.Pipe()
        worker = context.Process(
            target=load.fanout_worker,
            args=([server.ws_url] * len(share), share, server.room_id, messages, reference, child),
        )
        worker.start()
        pipes.append(parent)
        workers.append(worker)
    connect_and_drain(pipes)
    cpu_before = cpu_seconds(server.process.pid)

    async def burst() -> tuple[float, Any]:
        return await load.send_burst(server.ws_url, server.tokens[0], server.room_id, messages, reference)

    loop = asyncio.new_event_loop()
    started, sender = loop.run_until_complete(burst())
    results: list[load.ClientResult] = [pipe.recv() for pipe in pipes]
    # Before the clients hang up: a room emptying out is work the server does after the test.
    server_cpu = cpu_seconds(server.process.pid) - cpu_before
    loop.run_until_complete(sender.close())
    loop.close()
    for worker in workers:
        worker.join(60)
    elapsed = max(r.finished_at for r in results) - started
    return {
        "deliveries_per_second": clients * messages / elapsed,
        "seconds": elapsed,
        "lost": sum(r.lost for r in results),
        "duplicated": sum(r.duplicated for r in results),
        "reordered": sum(r.reordered for r in results),
        "server_cpu_share": server_cpu / elapsed,
        # Out of one core per client process: near 100 % would mean the generator, not the server, set the pace.
        "generator_cpu_share": sum(r.cpu for r in results) / (elapsed * len(workers)),
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def bench_fanout(sizes: list[int], messages: int, runs: int, worker_count: int) -> list[dict[str, Any]]:
    rows = []
    for clients in sizes:
        row: dict[str, Any] = {"clients": clients, "messages": messages}
        for name, reference in (("reference", True), ("gochat", False)):
            measured = []
            for _ in range(runs):
                with tempfile.TemporaryDirectory() as folder:
                    server = (
                        start_reference(clients + 1)
                        if reference
                        else start_gochat(f"sqlite:///{folder}/bench.sqlite3", clients + 1)
                    )
                    try:
                        measured.append(fanout_once(server, clients, messages, reference, worker_count))
                    finally:
                        server.stop()
            row[name] = {
                "deliveries_per_second": median_of(measured, "deliveries_per_second"),
                "lost": sum(m["lost"] for m in measured),
                "duplicated": sum(m["duplicated"] for m in measured),
                "reordered": sum(m["reordered"] for m in measured),
                "server_cpu_share": median_of(measured, "server_cpu_share"),
                "generator_cpu_share": median_of(measured, "generator_cpu_share"),
                "runs": measured,
            }
        row["ratio"] = row["gochat"]["deliveries_per_second"] / row["reference"]["deliveries_per_second"]
        rows.append(row)
        print_fanout_row(row)
    return rows


def print_fanout_row(row: dict[str, Any]) -> None:
    g, r = row["gochat"], row["reference"]
    print(
        f"fan-out N={row['clients']:>5} M={row['messages']}: gochat {g['deliveries_per_second']:>10,.0f}/s  "
        f"reference {r['deliveries_per_second']:>10,.0f}/s  ratio {row['ratio']:.2f}  "
        f"lost/dup/reordered {g['lost']}/{g['duplicated']}/{g['reordered']}  "
        f"server CPU {g['server_cpu_share']:.0%} (ref {r['server_cpu_share']:.0%}), "
        f"generator CPU {g['generator_cpu_share']:.0%} (ref {r['generator_cpu_share']:.0%})",
        flush=True,
    )


def bench_ingest(
    backends: dict[str, Callable[[], str]], senders: int, seconds: float, runs: int, worker_count: int
) -> list[dict[str, Any]]:
    rows = []
    for backend, make_url in backends.items():
        measured = []
        for _ in range(runs):
            url = make_url()
            server = start_gochat(url, senders, rooms=senders)
            try:
                measured.append(ingest.ingest_once(server, seconds, worker_count))
            finally:
                server.stop()
        row = {
            "backend": backend,
            "senders": senders,
            "acknowledged_per_second": median_of(measured, "per_second"),
            "server_cpu_share": median_of(measured, "server_cpu_share"),
            "generator_cpu_share": median_of(measured, "generator_cpu_share"),
            "runs": measured,
        }
        rows.append(row)
        print(
            f"durable ingest on {backend:<8} with {senders} senders: {row['acknowledged_per_second']:>8,.0f} "
            f"acknowledged/s (target 5,000)  server CPU {row['server_cpu_share']:.0%}, "
            f"generator CPU {row['generator_cpu_share']:.0%}",
            flush=True,
        )
    return rows


def mariadb_database() -> str:
    from sqlalchemy import create_engine, text

    admin = os.environ.get("GOCHAT_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
    name = f"gochat_bench_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    engine = create_engine(admin)
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        connection.execute(text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + f"/{name}"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=default_worker_count(),
        help="client processes that generate the load for fan-out, ingest, latency and idle connections "
        "(default: one per CPU of this machine, %(default)s here)",
    )
    parser.add_argument("--sizes", default="100,500,1000", help="clients in the room for fan-out")
    parser.add_argument("--messages", type=int, default=200, help="messages per fan-out run (sent as one burst)")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--ingest-seconds", type=float, default=5.0)
    parser.add_argument("--latency-clients", type=int, default=500, help="clients in the room for latency")
    parser.add_argument("--latency-rate", type=float, default=20.0, help="messages per second offered for latency")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="measured seconds per latency run")
    parser.add_argument("--connection-sizes", default="1000,10000", help="idle connections held on one server")
    parser.add_argument("--hold-seconds", type=float, default=60.0, help="how long idle connections are held")
    # Memory is not noisy the way times are, and each run holds for --hold-seconds: one by default.
    parser.add_argument("--connection-runs", type=int, default=1, help="runs per idle-connection figure")
    parser.add_argument("--desktop-messages", type=int, default=100_000, help="history in the desktop's room")
    parser.add_argument("--desktop-rate", type=float, default=200.0, help="messages per second into the open chat")
    parser.add_argument("--desktop-seconds", type=float, default=5.0, help="how long the desktop's load lasts")
    parser.add_argument("--desktop-scrollback", type=int, default=10_000, help="messages the desktop scrolls back")
    parser.add_argument("--hosting-rates", default="20,200", help="messages per second, one round each")
    parser.add_argument("--hosting-seconds", default="20,10", help="how long each hosting round lasts")
    parser.add_argument("--hosting-rooms", type=int, default=50, help="rooms in the hosting app's room list")
    parser.add_argument(
        "--hosting-focus",
        default="elsewhere",
        help="the active window of the hosting app and the plain client: chat or elsewhere (HOST[,PLAIN])",
    )
    parser.add_argument("--hosting-platform", default="offscreen", help="the Qt platform of both apps")
    parser.add_argument("--flood-clients", type=int, default=100, help="clients timed in the room beside the flood")
    parser.add_argument(
        "--flood-rate",
        type=float,
        default=8.0,
        help="messages per second in the room beside the flood (a person's pace)",
    )
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="measured seconds per flood run")
    parser.add_argument("--storm-users", type=int, default=500, help="users logging in at once in the login storm")
    parser.add_argument(
        "--search-messages", type=positive_int, default=1_000_000, help="messages stored for the search section"
    )
    parser.add_argument("--search-queries", type=positive_int, default=200, help="timed queries of each kind")
    parser.add_argument(
        "--search-sqlite",
        default="",
        help="an SQLite file kept for the search section: seeded and indexed there when it does not exist yet, "
        "timed as it is when an earlier run seeded it",
    )
    parser.add_argument(
        "--search-mariadb",
        default="",
        help="a MariaDB database URL kept for the search section: seeded when it holds no messages, timed as it "
        "is when an earlier run seeded it",
    )
    parser.add_argument(
        "--cluster-sizes", default="500", help="clients in the room for fan-out over one and two instances"
    )
    parser.add_argument(
        "--cluster-hop-clients",
        type=positive_int,
        default=500,
        help="clients in the room for the cross-instance hop, half on each instance "
        "(at --latency-rate for --latency-seconds)",
    )
    parser.add_argument(
        "--cluster-redis-url",
        default=os.environ.get("GOCHAT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="the Redis the cluster section's instances share (each run under a key prefix of its own)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: fanout,ingest,sqlite,mariadb,latency,connections,desktop,hosting,flood,logins,search,"
        "cluster",
    )
    parser.add_argument("--json", default="bench-results/bench.json", help="where to write the figures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    skip = set(filter(None, args.skip.split(",")))
    raise_open_files_limit()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "runs": args.runs,
        "workers": args.workers,
    }
    if "fanout" not in skip:
        report["fanout"] = bench_fanout([int(n) for n in args.sizes.split(",")], args.messages, args.runs, args.workers)
    if "ingest" not in skip:
        with tempfile.TemporaryDirectory() as folder:
            counter = iter(range(1000))
            backends: dict[str, Callable[[], str]] = {}
            if "sqlite" not in skip:
                backends["sqlite"] = lambda: f"sqlite:///{folder}/ingest-{next(counter)}.sqlite3"
            if "mariadb" not in skip:
                backends["mariadb"] = mariadb_database
            report["disk_flush_ms"] = ingest.disk_flush_ms(folder)
            print(f"disk flush (fsync of 4 KiB) here: median {report['disk_flush_ms']:.2f} ms", flush=True)
            report["ingest"] = bench_ingest(backends, INGEST_SENDERS, args.ingest_seconds, args.runs, args.workers)
    if "latency" not in skip:
        report["latency"] = bench_latency(
            args.latency_clients, args.latency_rate, args.latency_seconds, args.runs, args.workers
        )
    if "connections" not in skip:
        sizes = [int(n) for n in args.connection_sizes.split(",")]
        report["connections"] = bench_connections(sizes, args.hold_seconds, args.connection_runs, args.workers)
    if "desktop" not in skip:
        report["desktop"] = bench_desktop(
            args.desktop_messages, args.desktop_rate, args.desktop_seconds, args.desktop_scrollback, args.runs
        )
    if "hosting" not in skip:
        focus = args.hosting_focus.split(",")
        report["hosting"] = bench_hosting(
            [float(r) for r in args.hosting_rates.split(",")],
            [float(s) for s in args.hosting_seconds.split(",")],
            args.hosting_rooms,
            args.runs,
            (focus[0], focus[-1]),
            args.hosting_platform,
        )
    if "flood" not in skip:
        report["flood"] = bench_flood(args.flood_clients, args.flood_rate, args.flood_seconds, args.runs, args.workers)
    if "logins" not in skip:
        report["logins"] = bench_logins(args.storm_users, args.runs)
    if "search" not in skip:
        with tempfile.TemporaryDirectory() as folder:
            sqlite_path = args.search_sqlite or f"{folder}/search.sqlite3"
            search_backends: dict[str, Callable[[], str]] = {}
            if "sqlite" not in skip:
                search_backends["sqlite"] = lambda: f"sqlite:///{sqlite_path}"
            if "mariadb" not in skip:
                search_backends["mariadb"] = (lambda: args.search_mariadb) if args.search_mariadb else mariadb_database
            seeded = frozenset(
                backend for backend, make_url in search_backends.items() if bench_search_seeded(make_url())
            )
            report["search"] = bench_search(
                search_backends, args.search_messages, args.search_queries, args.runs, seeded
            )
    if "cluster" not in skip:
        report["cluster"] = bench_cluster(
            mariadb_database,
            args.cluster_redis_url,
            [int(n) for n in args.cluster_sizes.split(",")],
            args.messages,
            args.cluster_hop_clients,
            args.latency_rate,
            args.latency_seconds,
            args.latency_clients,
            INGEST_SENDERS,
            args.ingest_seconds,
            args.runs,
            args.workers,
            os.cpu_count() or 1,
        )
    output = Path(args.json)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2))
    print(f"figures written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
