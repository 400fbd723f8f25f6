"""Several instances (issue 14): gochat servers on one MariaDB database and one Redis.

Fan-out at the same N, in the same run, three ways (runs interleaved, so all three see the same
drift of the machine), each on a fresh database:

- **alone**: one server without ``--redis-url`` (the single-process path; the reference);
- **one**: one server with ``--redis-url`` (a cluster of one: the cost of Redis on its own);
- **two**: two servers with ``--redis-url``, the clients dealt evenly over them, the sender on the
  first; every message reaches the second server's clients through Redis.

Every client checks that it got every message once, in rising id order (bench/load.py). The
ratios are two ÷ one and one ÷ alone.

What ``--redis-url`` costs one server on its own: the latency (N = 500 at 20 messages/s) and
durable-ingest (50 senders) rows of the single-process bench, on MariaDB, without it and with it.

The cross-instance hop: two servers, one sender posting 20 messages/s on a timetable (bench/latency.py's
machinery), half the clients on the sender's server and half on the other; the added latency is
the other's p50/p99 minus the same's, paired per run.

Every process shares this machine's cores: both servers, the client processes, MariaDB and Redis.
Each row prints their CPU shares (of one core each) and how busy the whole machine was, which is
what limits the two-instance ratio on a small machine.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, make_url, text

from bench import load
from bench.ingest import ingest_once
from bench.latency import (
    GRACE_SECONDS,
    WARMUP_SECONDS,
    LatencyReport,
    _read_all,
    _send_on_timetable,
    latency_once,
    latency_worker,
    percentile,
)
from bench.load import _open
from bench.processes import connect_and_drain, killed_on_error, shares, start_workers, stop_workers, wait_for
from bench.servers import Running, cpu_seconds, launch_gochat, seed, wait_until_serving

VARIANTS = {"alone": (1, False), "one": (1, True), "two": (2, True)}  # name: (instances, --redis-url)


def process_id(name: str) -> int | None:
    """The first process whose command name is ``name`` (its CPU is read, nothing else)."""
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip() == name:
                return int(stat.parent.name)
        except OSError:
            continue
    return None


def machine_busy_and_total() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / ticks, sum(fields[:8]) / ticks


@dataclass
class Services:
    """The shared services every instance talks to; their processes' CPU is measured too."""

    make_database: Callable[[], str]
    redis_url: str
    redis_pid: int | None
    mariadb_pid: int | None

    @classmethod
    def find(cls, make_database: Callable[[], str], redis_url: str) -> Services:
        client = redis.Redis.from_url(redis_url)
        try:
            redis_pid = int(client.info("server")["process_id"])
        finally:
            client.close()
        return cls(make_database, redis_url, redis_pid, process_id("mariadbd") or process_id("mysqld"))


class CpuMeter:
    """CPU seconds between two points of the servers, MariaDB, Redis, this process (the sender),
    and the whole machine; what none of them (nor the client processes) spent is the rest: other
    processes on the machine and the kernel's own threads."""

    def __init__(self, servers: list[Running], services: Services) -> None:
        self._pids = {
            **{f"server{i}": s.process.pid for i, s in enumerate(servers)},
            **({"mariadb": services.mariadb_pid} if services.mariadb_pid else {}),
            **({"redis": services.redis_pid} if services.redis_pid else {}),
        }
        self._before = self._now()

    def _now(self) -> dict[str, float]:
        busy, total = machine_busy_and_total()
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {
            **{name: cpu_seconds(pid) for name, pid in self._pids.items()},
            "sender": own.ru_utime + own.ru_stime,
            "machine_busy": busy,
            "machine_total": total,
            "clock": time.monotonic(),
        }

    def shares(self, generator_seconds: float) -> dict[str, float]:
        """Each one's CPU over the interval, as a share of one core; the machine's busy share of all
        its cores; ``generator_seconds`` is what the client processes say they spent."""
        after = self._now()
        spent = {name: after[name] - self._before[name] for name in after}
        interval = max(spent["clock"], 1e-9)
        named = [*self._pids, "sender"]
        result = {f"{name}_cpu_share": spent[name] / interval for name in named}
        # A share of the whole (busy and total are read from one /proc/stat, whose sums round).
        result["machine_busy_share"] = min(1.0, spent["machine_busy"] / max(spent["machine_total"], 1e-9))
        rest = spent["machine_busy"] - sum(spent[name] for name in named) - generator_seconds
        result["rest_cpu_share"] = max(0.0, rest) / interval
        return result


@contextmanager
def started_cluster(services: Services, variant: str, users: int, rooms: int = 1) -> Iterator[list[Running]]:
    """The variant's servers on a fresh database (seeded with ``users`` and ``rooms``) and, with
    Redis, a key prefix of their own; all dropped afterwards."""
    count, with_redis = VARIANTS[variant]
    database_url = services.make_database()
    prefix = f"gochat-bench:{time.time_ns()}:"
    tokens, room_ids = seed(database_url, users, rooms)
    extra = ["--redis-url", services.redis_url, "--redis-prefix", prefix] if with_redis else []
    servers: list[Running] = []
    try:
        for _ in range(count):
            servers.append(launch_gochat(database_url, tokens, room_ids, *extra))
        for server in servers:
            wait_until_serving(server, instances=count)
        yield servers
    finally:
        for server in servers:
            server.stop()
        drop(database_url, services.redis_url if with_redis else None, prefix)


def drop(database_url: str, redis_url: str | None, prefix: str) -> None:
    url = make_url(database_url)
    engine = create_engine(url.set(database=None))
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {url.database}"))
    engine.dispose()
    if redis_url:
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=f"{prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def fanout_once(
    servers: list[Running], services: Services, clients: int, messages: int, worker_count: int
) -> dict[str, Any]:
    """N clients dealt evenly over ``servers``; one sender on the first posts M at once."""
    first = servers[0]
    tokens = first.tokens[1 : clients + 1]
    urls = [servers[i % len(servers)].ws_url for i in range(len(tokens))]
    pairs = list(zip(urls, tokens, strict=True))
    pipes, workers = start_workers(
        load.fanout_worker,
        [
            ([url for url, _ in share], [token for _, token in share], first.room_id, messages, False)
            for share in shares(pairs, worker_count)
        ],
    )
    loop = asyncio.new_event_loop()
    with killed_on_error(workers):
        connect_and_drain(pipes)
        meter = CpuMeter(servers, services)
        started, sender = loop.run_until_complete(
            load.send_burst(first.ws_url, first.tokens[0], first.room_id, messages, False)
        )
        results: list[load.ClientResult] = [wait_for(pipe, 600) for pipe in pipes]
        elapsed = max(r.finished_at for r in results) - started
        # Before the clients hang up: a room emptying out is work the servers do after the test.
        cpu = meter.shares(sum(r.cpu for r in results))
    loop.run_until_complete(sender.close())
    loop.close()
    stop_workers(workers)
    return {
        "deliveries_per_second": clients * messages / elapsed,
        "seconds": elapsed,
        "lost": sum(r.lost for r in results),
        "duplicated": sum(r.duplicated for r in results),
        "reordered": sum(r.reordered for r in results),
        "server_cpu_shares": [cpu[f"server{i}_cpu_share"] for i in range(len(servers))],
        "mariadb_cpu_share": cpu.get("mariadb_cpu_share"),
        "redis_cpu_share": cpu.get("redis_cpu_share"),
        "sender_cpu_share": cpu["sender_cpu_share"],
        "rest_cpu_share": cpu["rest_cpu_share"],
        "machine_busy_share": cpu["machine_busy_share"],
        # Out of one core per client process: near 100 % would mean the generator set the pace.
        "generator_cpu_share": sum(r.cpu for r in results) / (elapsed * len(workers)),
    }


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs if r[key] is not None)) if runs else 0.0


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(runs[0]["server_cpu_shares"])
    return {
        "instances": count,
        "deliveries_per_second": _median(runs, "deliveries_per_second"),
        "lost": sum(r["lost"] for r in runs),
        "duplicated": sum(r["duplicated"] for r in runs),
        "reordered": sum(r["reordered"] for r in runs),
        "server_cpu_shares": [float(statistics.median(r["server_cpu_shares"][i] for r in runs)) for i in range(count)],
        "mariadb_cpu_share": _median([r for r in runs if r["mariadb_cpu_share"] is not None], "mariadb_cpu_share"),
        "redis_cpu_share": _median([r for r in runs if r["redis_cpu_share"] is not None], "redis_cpu_share"),
        "sender_cpu_share": _median(runs, "sender_cpu_share"),
        "rest_cpu_share": _median(runs, "rest_cpu_share"),
        "machine_busy_share": _median(runs, "machine_busy_share"),
        "generator_cpu_share": _median(runs, "generator_cpu_share"),
        "runs": runs,
    }


def bench_cluster_fanout(
    services: Services, sizes: list[int], messages: int, runs: int, worker_count: int
) -> list[dict[str, Any]]:
    rows = []
    for clients in sizes:
        measured: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for _ in range(runs):
            for variant in VARIANTS:
                with started_cluster(services, variant, clients + 1) as servers:
                    measured[variant].append(fanout_once(servers, services, clients, messages, worker_count))
        row: dict[str, Any] = {"clients": clients, "messages": messages}
        for variant, of_variant in measured.items():
            row[variant] = _summary(of_variant)
        row["ratio_two_to_one"] = row["two"]["deliveries_per_second"] / row["one"]["deliveries_per_second"]
        row["ratio_one_to_alone"] = row["one"]["deliveries_per_second"] / row["alone"]["deliveries_per_second"]
        rows.append(row)
        print_fanout_row(row)
    return rows


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:.0%}"


def print_fanout_row(row: dict[str, Any]) -> None:
    two, one, alone = row["two"], row["one"], row["alone"]
    faults = [f"{row[v]['lost']}/{row[v]['duplicated']}/{row[v]['reordered']}" for v in VARIANTS]
    print(
        f"cluster fan-out N={row['clients']:>5} M={row['messages']}: two instances "
        f"{two['deliveries_per_second']:>9,.0f}/s  one {one['deliveries_per_second']:>9,.0f}/s  "
        f"ratio two/one {row['ratio_two_to_one']:.2f}  one without --redis-url "
        f"{alone['deliveries_per_second']:>9,.0f}/s  ratio one/alone {row['ratio_one_to_alone']:.2f}  "
        f"lost/dup/reordered {' '.join(faults)} (alone one two)",
        flush=True,
    )
    for variant in VARIANTS:
        figures = row[variant]
        print(
            f"    {variant:<5} server CPU {' + '.join(_percent(s) for s in figures['server_cpu_shares'])}, "
            f"MariaDB {_percent(figures['mariadb_cpu_share'])}, Redis {_percent(figures['redis_cpu_share'])}, "
            f"generator {_percent(figures['generator_cpu_share'])} (of a core each), "
            f"sender {_percent(figures['sender_cpu_share'])}, "
            f"rest of the machine {_percent(figures['rest_cpu_share'])}; "
            f"machine busy {_percent(figures['machine_busy_share'])} of its cores",
            flush=True,
        )


def hop_once(
    servers: list[Running], services: Services, clients: int, rate: float, seconds: float, worker_count: int
) -> dict[str, Any]:
    """Half the clients on the sender's server, half on the other: latency of each half."""
    first = servers[0]
    warmup = round(rate * WARMUP_SECONDS)
    total = warmup + round(rate * seconds)
    within = total / rate + GRACE_SECONDS
    loop = asyncio.new_event_loop()
    # The sender enters first, so its own "entered" frame is drained with the others'.
    sender = loop.run_until_complete(_open(first.ws_url, first.tokens[0], first.room_id, False))
    reading = loop.create_task(_read_all(sender))
    tokens = first.tokens[1 : clients + 1]
    per_server = max(1, worker_count // len(servers))
    arguments, sides = [], []
    for index, server in enumerate(servers):
        for share in shares(tokens[index :: len(servers)], per_server):
            arguments.append((server.ws_url, share, first.room_id, total, warmup, within, False))
            sides.append("same" if index == 0 else "other")
    pipes, workers = start_workers(latency_worker, arguments)
    with killed_on_error(workers):
        connect_and_drain(pipes)
        meter = CpuMeter(servers, services)
        started = loop.run_until_complete(_send_on_timetable(sender, first.room_id, total, rate, False))
        reports: list[LatencyReport] = [wait_for(pipe, within + 60) for pipe in pipes]
        elapsed = max(r.finished_at for r in reports) - started
        cpu = meter.shares(sum(r.cpu for r in reports))
    loop.run_until_complete(sender.close())
    loop.run_until_complete(reading)
    loop.close()
    stop_workers(workers)
    result: dict[str, Any] = {"messages": total - warmup, "seconds": elapsed}
    for side in ("same", "other"):
        of_side = [r for r, s in zip(reports, sides, strict=True) if s == side]
        latencies = sorted(x for r in of_side for x in r.latencies)
        result[side] = {
            "p50_ms": percentile(latencies, 0.50) * 1000,
            "p99_ms": percentile(latencies, 0.99) * 1000,
            "samples": len(latencies),
            "lost": sum(r.lost for r in of_side),
            "duplicated": sum(r.duplicated for r in of_side),
            "reordered": sum(r.reordered for r in of_side),
        }
    result["added_p50_ms"] = result["other"]["p50_ms"] - result["same"]["p50_ms"]
    result["added_p99_ms"] = result["other"]["p99_ms"] - result["same"]["p99_ms"]
    result["server_cpu_shares"] = [cpu[f"server{i}_cpu_share"] for i in range(len(servers))]
    result["mariadb_cpu_share"] = cpu.get("mariadb_cpu_share")
    result["redis_cpu_share"] = cpu.get("redis_cpu_share")
    result["rest_cpu_share"] = cpu["rest_cpu_share"]
    result["machine_busy_share"] = cpu["machine_busy_share"]
    return result


def bench_cluster_hop(
    services: Services, clients: int, rate: float, seconds: float, runs: int, worker_count: int
) -> dict[str, Any]:
    measured = []
    for _ in range(runs):
        with started_cluster(services, "two", clients + 1) as servers:
            measured.append(hop_once(servers, services, clients, rate, seconds, worker_count))
    row: dict[str, Any] = {"clients": clients, "rate": rate, "seconds": seconds}
    for side in ("same", "other"):
        sides = [m[side] for m in measured]
        row[side] = {
            "p50_ms": _median(sides, "p50_ms"),
            "p99_ms": _median(sides, "p99_ms"),
            "samples": sum(s["samples"] for s in sides),
            "lost": sum(s["lost"] for s in sides),
            "duplicated": sum(s["duplicated"] for s in sides),
            "reordered": sum(s["reordered"] for s in sides),
        }
    # Paired within each run (both halves saw the same moment of the machine), then the median.
    row["added_p50_ms"] = _median(measured, "added_p50_ms")
    row["added_p99_ms"] = _median(measured, "added_p99_ms")
    row["server_cpu_shares"] = [float(statistics.median(m["server_cpu_shares"][i] for m in measured)) for i in (0, 1)]
    row["mariadb_cpu_share"] = _median([m for m in measured if m["mariadb_cpu_share"] is not None], "mariadb_cpu_share")
    row["redis_cpu_share"] = _median([m for m in measured if m["redis_cpu_share"] is not None], "redis_cpu_share")
    row["rest_cpu_share"] = _median(measured, "rest_cpu_share")
    row["machine_busy_share"] = _median(measured, "machine_busy_share")
    row["runs"] = measured
    same, other = row["same"], row["other"]
    print(
        f"cluster hop N={clients:>5} at {rate:g}/s, two instances: sender's instance p50 {same['p50_ms']:.1f} ms "
        f"p99 {same['p99_ms']:.1f} ms  other instance p50 {other['p50_ms']:.1f} ms p99 {other['p99_ms']:.1f} ms  "
        f"added p50 {row['added_p50_ms']:+.1f} ms p99 {row['added_p99_ms']:+.1f} ms  "
        f"lost/dup/reordered {same['lost']}/{same['duplicated']}/{same['reordered']} (same) "
        f"{other['lost']}/{other['duplicated']}/{other['reordered']} (other)  "
        f"server CPU {' + '.join(_percent(s) for s in row['server_cpu_shares'])}, "
        f"MariaDB {_percent(row['mariadb_cpu_share'])}, Redis {_percent(row['redis_cpu_share'])}, "
        f"rest of the machine {_percent(row['rest_cpu_share'])}; machine busy {_percent(row['machine_busy_share'])}",
        flush=True,
    )
    return row


def bench_redis_cost(
    services: Services,
    latency_clients: int,
    rate: float,
    latency_seconds: float,
    ingest_senders: int,
    ingest_seconds: float,
    runs: int,
    worker_count: int,
) -> dict[str, Any]:
    """What ``--redis-url`` costs one server on its own: the latency and durable-ingest rows of the
    single-process bench (bench/latency.py, bench/ingest.py), without it and with it, runs
    interleaved, both on MariaDB (the database a cluster needs)."""
    latency: dict[str, list[dict[str, Any]]] = {"alone": [], "one": []}
    ingested: dict[str, list[dict[str, Any]]] = {"alone": [], "one": []}
    for _ in range(runs):
        for variant in ("alone", "one"):
            with started_cluster(services, variant, latency_clients + 1) as [server]:
                latency[variant].append(
                    latency_once(server, latency_clients, rate, latency_seconds, False, worker_count)
                )
            with started_cluster(services, variant, ingest_senders, rooms=ingest_senders) as [server]:
                ingested[variant].append(ingest_once(server, ingest_seconds, worker_count))
    row: dict[str, Any] = {"latency": {"clients": latency_clients, "rate": rate}, "ingest": {"senders": ingest_senders}}
    for variant in ("alone", "one"):
        row["latency"][variant] = {
            "p50_ms": _median(latency[variant], "p50_ms"),
            "p99_ms": _median(latency[variant], "p99_ms"),
            "lost": sum(m["lost"] for m in latency[variant]),
            "duplicated": sum(m["duplicated"] for m in latency[variant]),
            "reordered": sum(m["reordered"] for m in latency[variant]),
            "server_cpu_share": _median(latency[variant], "server_cpu_share"),
            "runs": latency[variant],
        }
        row["ingest"][variant] = {
            "acknowledged_per_second": _median(ingested[variant], "per_second"),
            "server_cpu_share": _median(ingested[variant], "server_cpu_share"),
            "runs": ingested[variant],
        }
    lat, ing = row["latency"], row["ingest"]
    lat["p50_ratio"] = lat["one"]["p50_ms"] / lat["alone"]["p50_ms"]
    lat["p99_ratio"] = lat["one"]["p99_ms"] / lat["alone"]["p99_ms"]
    ing["ratio"] = ing["one"]["acknowledged_per_second"] / ing["alone"]["acknowledged_per_second"]
    faults = [f"{lat[v]['lost']}/{lat[v]['duplicated']}/{lat[v]['reordered']}" for v in ("alone", "one")]
    print(
        f"cluster --redis-url on one instance, latency N={latency_clients:>5} at {rate:g}/s: "
        f"p50 {lat['one']['p50_ms']:.1f} ms p99 {lat['one']['p99_ms']:.1f} ms, without "
        f"p50 {lat['alone']['p50_ms']:.1f} ms p99 {lat['alone']['p99_ms']:.1f} ms  "
        f"ratio p50 {lat['p50_ratio']:.2f} p99 {lat['p99_ratio']:.2f}  lost/dup/reordered {' '.join(faults)} "
        f"(without with)  server CPU {_percent(lat['one']['server_cpu_share'])} "
        f"(without {_percent(lat['alone']['server_cpu_share'])})",
        flush=True,
    )
    print(
        f"cluster --redis-url on one instance, durable ingest with {ingest_senders} senders: "
        f"{ing['one']['acknowledged_per_second']:,.0f} ack/s, without {ing['alone']['acknowledged_per_second']:,.0f} "
        f"ack/s  ratio {ing['ratio']:.2f}  server CPU {_percent(ing['one']['server_cpu_share'])} "
        f"(without {_percent(ing['alone']['server_cpu_share'])})",
        flush=True,
    )
    return row


def limits_note(rows: list[dict[str, Any]], cpus: int, worker_count: int) -> str:
    """What bounds the two-instance ratio here, from the figures measured (printed and kept)."""
    lines = [
        f"cluster: what limits the ratio here: {cpus} CPU(s) shared by both servers, {worker_count} client "
        "process(es), MariaDB and Redis; a second server gains only the CPU the first left idle. MariaDB's and "
        "Redis's shares are their whole processes (other users of them count too); the rest of the machine is "
        "what none of these spent: other processes and the kernel's threads."
    ]
    for row in rows:
        two, one = row["two"], row["one"]
        lines.append(
            f"    N={row['clients']}: machine busy {_percent(two['machine_busy_share'])} with two instances "
            f"({_percent(one['machine_busy_share'])} with one); servers "
            f"{' + '.join(_percent(s) for s in two['server_cpu_shares'])} against "
            f"{_percent(one['server_cpu_shares'][0])} for one, generator {_percent(two['generator_cpu_share'])} of "
            f"each of its cores, MariaDB {_percent(two['mariadb_cpu_share'])}, "
            f"Redis {_percent(two['redis_cpu_share'])}, "
            f"the rest of the machine {_percent(two['rest_cpu_share'])} (other processes, the kernel)"
        )
    return "\n".join(lines)


def bench_cluster(
    make_database: Callable[[], str],
    redis_url: str,
    sizes: list[int],
    messages: int,
    hop_clients: int,
    hop_rate: float,
    hop_seconds: float,
    latency_clients: int,
    ingest_senders: int,
    ingest_seconds: float,
    runs: int,
    worker_count: int,
    cpus: int,
) -> dict[str, Any]:
    services = Services.find(make_database, redis_url)
    fanout = bench_cluster_fanout(services, sizes, messages, runs, worker_count)
    hop = bench_cluster_hop(services, hop_clients, hop_rate, hop_seconds, runs, worker_count)
    redis_cost = bench_redis_cost(
        services, latency_clients, hop_rate, hop_seconds, ingest_senders, ingest_seconds, runs, worker_count
    )
    note = limits_note(fanout, cpus, worker_count)
    print(note, flush=True)
    return {"fanout": fanout, "hop": hop, "redis_cost": redis_cost, "limits": note}
