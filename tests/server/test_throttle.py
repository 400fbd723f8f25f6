"""Token buckets (gochat/server/throttle.py) and the server's limits over them, on a fake clock:
no sleeps, every wait computed."""

from __future__ import annotations

import dataclasses

import pytest

from gochat.server.config import Settings, settings_from_args
from gochat.server.errors import RateLimited
from gochat.server.limits import RateLimits
from gochat.server.throttle import Limit, Throttle, retry_after_ms


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_a_burst_passes_then_each_request_waits_for_its_token() -> None:
    clock = FakeClock()
    throttle = Throttle(Limit(rate=2.0, burst=3), clock)
    assert [throttle.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.take("k") == pytest.approx(0.5)  # one token every 0.5 s
    clock.advance(0.25)
    assert throttle.take("k") == pytest.approx(0.25)  # a refusal takes nothing
    clock.advance(0.25)
    assert throttle.take("k") == 0.0
    assert throttle.take("other") == 0.0  # keys are independent


def test_a_steady_rate_under_the_limit_is_never_refused() -> None:
    clock = FakeClock()
    throttle = Throttle(Limit(rate=10.0, burst=50), clock)
    assert all(throttle.take("user") == 0.0 for _ in range(30))  # a burst of 30 ...
    for _ in range(600):  # ... then 5 a second for two minutes
        clock.advance(0.2)
        assert throttle.take("user") == 0.0


def test_rate_zero_means_no_limit() -> None:
    throttle = Throttle(Limit(rate=0, burst=1), FakeClock())
    assert all(throttle.take("k") == 0.0 for _ in range(10_000))
    assert len(throttle) == 0


def test_backoff_halves_the_refill_each_time_the_bucket_runs_dry_and_resets_when_full() -> None:
    clock = FakeClock()
    throttle = Throttle(Limit(rate=1.0, burst=2, max_backoff=3), clock)
    assert throttle.take("k") == throttle.take("k") == 0.0  # dry: refill now at 1/2 a second
    waits = []
    for _ in range(5):
        wait = throttle.take("k")
        waits.append(wait)
        clock.advance(wait)
        assert throttle.take("k") == 0.0
    assert waits == pytest.approx([2.0, 4.0, 8.0, 8.0, 8.0])  # 1/2, 1/4, 1/8 and no slower
    clock.advance(8.0 * 2)  # left alone until full: forgotten, so back to the full rate
    throttle.take("other")
    assert len(throttle) == 1
    assert throttle.take("k") == throttle.take("k") == 0.0
    assert throttle.take("k") == pytest.approx(2.0)


def test_refund_gives_a_token_back() -> None:
    throttle = Throttle(Limit(rate=1.0, burst=1), FakeClock())
    assert throttle.take("k") == 0.0
    throttle.refund("k")
    assert throttle.take("k") == 0.0
    assert throttle.take("k") > 0


def test_idle_keys_are_forgotten_and_a_flood_of_distinct_keys_is_capped() -> None:
    clock = FakeClock()
    throttle = Throttle(Limit(rate=1.0, burst=5), clock, max_keys=1000)
    for n in range(100):
        throttle.take(n)
    assert len(throttle) == 100
    clock.advance(1.0)  # each of them full again after one second
    throttle.take("new")
    assert len(throttle) == 1
    for n in range(100_000):  # a flood of distinct keys, faster than they refill
        throttle.take(f"flood-{n}")
    assert len(throttle) == 1000


def test_retry_after_is_whole_milliseconds_never_zero() -> None:
    assert retry_after_ms(0.0001) == 1
    assert retry_after_ms(1.2341) == 1235


def _limits(clock: FakeClock, **changes: float) -> RateLimits:
    return RateLimits(dataclasses.replace(Settings(), **changes), clock)


def test_failed_logins_are_limited_per_name_and_per_address_and_a_success_does_not_count() -> None:
    clock = FakeClock()
    limits = _limits(clock, login_burst=3, login_per_minute=6)
    for _ in range(10):  # successes are given back
        limits.begin_login("alice", "10.0.0.1")
        limits.login_succeeded("alice", "10.0.0.1")
    for _ in range(3):
        limits.begin_login("alice", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        limits.begin_login("alice", "10.0.0.2")  # another address: the name is what is guessed
    assert refused.value.retry_after_ms == 20_000  # 6 a minute at half speed (backoff)
    # The address has more room (a NAT), but not unlimited: 4 times a name's burst.
    for n in range(12 - 3):
        limits.begin_login(f"name{n}", "10.0.0.1")
    with pytest.raises(RateLimited):
        limits.begin_login("someone-else", "10.0.0.1")


def test_messages_are_limited_per_connection_and_per_user() -> None:
    clock = FakeClock()
    limits = _limits(clock, message_rate=1, message_burst=2)
    limits.send(7, "c1")
    limits.send(7, "c1")
    with pytest.raises(RateLimited) as refused:
        limits.send(7, "c1")
    assert refused.value.retry_after_ms == 1000
    limits.send(7, "c2")  # the user may use a second connection: twice one connection's allowance
    limits.send(7, "c2")
    with pytest.raises(RateLimited):
        limits.send(7, "c3")  # but no more than that, however many connections
    limits.send(8, "c4")  # another user is untouched


def test_message_limit_zero_is_off() -> None:
    limits = _limits(FakeClock(), message_rate=0)
    for _ in range(10_000):
        limits.send(1, "c")


def test_throttling_flags_and_environment() -> None:
    settings = settings_from_args(["--message-rate", "2.5", "--message-burst", "7"], env={})
    assert (settings.message_rate, settings.message_burst) == (2.5, 7)
    env = {"GOCHAT_MESSAGE_RATE": "0", "GOCHAT_MESSAGE_BURST": "9", "GOCHAT_LOGIN_PER_MINUTE": "3"}
    settings = settings_from_args([], env=env)
    assert (settings.message_rate, settings.message_burst, settings.login_per_minute) == (0, 9, 3)
    defaults = settings_from_args([], env={})
    assert (defaults.message_rate, defaults.message_burst) == (10, 50)
    assert (defaults.register_burst, defaults.room_create_burst, defaults.hash_wait) == (60, 10, 5)
    with pytest.raises(SystemExit):
        settings_from_args(["--message-rate", "-1"], env={})
    with pytest.raises(SystemExit):
        settings_from_args(["--hash-wait", "soon"], env={})
