"""Issue 12, throttling: brute force on a username, a registration flood, a room flood, a message
flood and a login storm, each against the server's default limits, each answered with a clear
refusal (429 + Retry-After, or a rate_limited error frame with retryAfter) and nothing worse."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading
from typing import Any

import httpx
import pytest

from gochat.protocol import MsgType
from gochat.server import auth
from gochat.server.config import Settings
from gochat.server.runner import ServerThread
from tests.abuse.conftest import clients_of
from tests.helpers import PASSWORD, chat_client, create_room, eventually, register_and_login, scaled, unique_name


def _assert_rate_limited(response: httpx.Response) -> int:
    """A 429 as the protocol describes it; returns retryAfter (ms)."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "rate_limited"
    assert body["message"]
    retry_after = body["retryAfter"]
    assert isinstance(retry_after, int)
    assert retry_after > 0
    assert response.headers["Retry-After"] == str(math.ceil(retry_after / 1000))
    return retry_after


async def _guess(api: httpx.AsyncClient, username: str, password: str = "not the password") -> httpx.Response:
    return await api.post("/api/login", json={"username": username, "password": password})


async def test_brute_force_on_one_username_is_refused_the_same_way_whether_it_exists_or_not(
    sqlite_settings: Settings,
) -> None:
    burst = sqlite_settings.login_burst
    async with clients_of(sqlite_settings) as client_from:
        first, second = client_from("10.1.0.1"), client_from("10.1.0.2")
        assert (await first.post("/api/register", json={"username": "victim", "password": PASSWORD})).is_success
        answers: dict[str, list[tuple[int, str]]] = {}
        for name in ("victim", "nobody-here"):
            statuses = []
            for n in range(burst + 3):
                # From two addresses in turn: the name is what is counted.
                response = await _guess(first if n % 2 else second, name)
                statuses.append((response.status_code, response.json()["message"]))
                if response.status_code == 429:
                    _assert_rate_limited(response)
            answers[name] = statuses
        # The allowance of failed logins, then 429, and not a word of difference for an unknown name.
        assert [status for status, _ in answers["victim"]] == [401] * burst + [429] * 3
        assert answers["victim"] == answers["nobody-here"]
        # Even the right password waits now: guessing on gets no answer about it.
        _assert_rate_limited(await _guess(client_from("10.1.0.3"), "victim", PASSWORD))


async def test_one_address_guessing_many_names_is_refused_after_its_allowance(sqlite_settings: Settings) -> None:
    allowance = sqlite_settings.login_burst * 4  # an address may be a NAT: four names' worth
    async with clients_of(sqlite_settings) as client_from:
        guesser, neighbour = client_from("10.2.0.1"), client_from("10.2.0.2")
        statuses = [(await _guess(guesser, f"name{n}")).status_code for n in range(allowance + 2)]
        assert statuses == [401] * allowance + [429] * 2
        assert (await _guess(neighbour, "name0")).status_code == 401  # another address is not held back


async def test_successful_logins_do_not_count(sqlite_settings: Settings) -> None:
    async with clients_of(sqlite_settings) as client_from:
        api = client_from("10.3.0.1")
        _token, user = await register_and_login(api)
        for _ in range(sqlite_settings.login_burst * 5):
            assert (await _guess(api, user["username"], PASSWORD)).status_code == 200


async def test_a_registration_flood_from_one_address_is_refused_and_a_classroom_still_registers(
    sqlite_settings: Settings,
) -> None:
    classroom = sqlite_settings.register_burst  # 60: a class behind one NAT registers together
    async with clients_of(sqlite_settings) as client_from:
        nat = client_from("10.4.0.1")

        async def register(api: httpx.AsyncClient) -> httpx.Response:
            return await api.post("/api/register", json={"username": unique_name(), "password": PASSWORD})

        statuses = [(await register(nat)).status_code for _ in range(classroom)]
        assert statuses == [201] * classroom
        retry_after = _assert_rate_limited(await register(nat))
        assert retry_after <= 10_000  # the next one in ten seconds at 6 a minute
        assert (await register(client_from("10.4.0.2"))).status_code == 201


async def test_a_room_flood_from_one_user_is_refused(sqlite_settings: Settings) -> None:
    async with clients_of(sqlite_settings) as client_from:
        api = client_from("10.5.0.1")
        token, _ = await register_and_login(api)
        other, _ = await register_and_login(api)
        for _ in range(sqlite_settings.room_create_burst):
            await create_room(api, token)
        response = await api.post(
            "/api/rooms", json={"name": "one too many"}, headers={"Authorization": f"Bearer {token}"}
        )
        _assert_rate_limited(response)
        await create_room(api, other)  # someone else still may


async def test_a_message_flood_is_answered_with_retry_after_and_leaves_other_rooms_alone(
    sqlite_server: ServerThread,
) -> None:
    flood = 150  # past the burst, and past the 64 refusals after which reading slows to the allowance
    burst = sqlite_server.settings.message_burst
    async with httpx.AsyncClient(base_url=sqlite_server.url, timeout=scaled(10)) as api:
        flooder_token, _ = await register_and_login(api)
        bystander_token, _ = await register_and_login(api)
        flooded_room = await create_room(api, flooder_token)
        quiet_room = await create_room(api, bystander_token)
        async with (
            chat_client(sqlite_server.url, flooder_token) as flooder,
            chat_client(sqlite_server.url, bystander_token) as bystander,
        ):
            await flooder.enter(flooded_room["id"])
            await bystander.enter(quiet_room["id"])
            ids = [f"f{n}" for n in range(flood)]
            for cid in ids:  # pipelined, as fast as the socket takes them
                await flooder.send(MsgType.SEND, {"roomId": flooded_room["id"], "content": "spam", "clientMsgId": cid})
            # The bystander talks in its own room meanwhile, unhindered.
            for n in range(5):
                ack = await bystander.say(quiet_room["id"], f"hello {n}")
                assert ack.data["message"]["content"] == f"hello {n}"
            # Every SEND is answered: an ACK, or an error frame saying when to send it again.
            answers: dict[str, Any] = {}
            async with asyncio.timeout(scaled(20)):
                while len(answers) < flood:
                    frame = await flooder.next()
                    if frame.msg_type in (MsgType.ACK, MsgType.ERROR):
                        answers[frame.data["clientMsgId"]] = frame
            acked = [cid for cid in ids if answers[cid].msg_type == MsgType.ACK]
            refused = [answers[cid] for cid in ids if answers[cid].msg_type == MsgType.ERROR]
            assert burst <= len(acked) < flood * 2 // 3
            for frame in refused:
                assert frame.data["code"] == "rate_limited"
                assert frame.data["msgType"] == MsgType.SEND
                assert 0 < frame.data["retryAfter"] <= 1000
            # Still connected (a well-formed frame is never cause to disconnect): a client that
            # waits as it is told gets the first refused message through.
            cid = refused[0].data["clientMsgId"]
            wait = max(frame.data["retryAfter"] for frame in refused[-3:])
            for _attempt in range(5):
                await asyncio.sleep(wait / 1000)
                await flooder.send(MsgType.SEND, {"roomId": flooded_room["id"], "content": "spam", "clientMsgId": cid})
                answer = await flooder.next()
                while answer.data.get("clientMsgId") != cid or answer.msg_type not in (MsgType.ACK, MsgType.ERROR):
                    answer = await flooder.next()
                if answer.msg_type == MsgType.ACK:
                    break
                assert answer.data["code"] == "rate_limited"
                wait = answer.data["retryAfter"]
            assert answer.msg_type == MsgType.ACK
            assert not answer.data["duplicate"]


async def test_a_login_storm_hashes_at_most_n_passwords_at_once_and_the_rest_wait_or_get_429(
    sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(sqlite_settings, hash_concurrency=2, hash_wait=scaled(0.5))
    running = 0
    peak = 0
    lock = threading.Lock()
    release = threading.Event()
    verify = auth.verify_password

    def counting_verify(password_hash: str | None, password: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            release.wait(scaled(10))  # held until the storm has queued up behind the pool
            return verify(password_hash, password)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    async with clients_of(settings) as client_from:
        # 40 logins at once, each from an address of its own (no address limit in the way).
        storm = [asyncio.create_task(_guess(client_from(f"127.0.{n}.1"), f"user{n}")) for n in range(40)]

        async def all_but_two_answered() -> bool:
            await asyncio.sleep(0.05)
            return sum(task.done() for task in storm) == len(storm) - 2

        # Two hash (held), the others give up after waiting hash_wait for a turn: 429.
        await eventually(all_but_two_answered, what="38 logins refused")
        release.set()
        responses = await asyncio.gather(*storm)
    statuses = sorted(response.status_code for response in responses)
    assert peak == 2  # never more than the pool's size at once
    assert statuses.count(401) == 2  # the two that were hashing finish
    for response in responses:
        if response.status_code == 429:
            assert _assert_rate_limited(response) == 1000
    assert statuses.count(429) == 38
