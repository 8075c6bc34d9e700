"""The fault proxy the resilience tests rely on does what its schedule says, against a real
TCP echo server on loopback: refusals and resets arrive as resets, cuts end established
connections, delays hold the first chunk, blackholes swallow everything without a reset, and
the same seed makes the same decisions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.support.faultproxy import FaultProxy, FaultSchedule, _Plan


@asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def round_trip(port: int, payload: bytes = b"ping", timeout_s: float = 3.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            return await reader.read(1024)
    finally:
        writer.close()


async def test_without_faults_bytes_pass_both_ways() -> None:
    async with echo_server() as port:
        with FaultProxy("127.0.0.1", port) as proxy:
            assert await round_trip(proxy.port) == b"ping"
            assert proxy.stats["accepted"] == 1


async def test_refused_connections_are_reset_before_any_byte() -> None:
    async with echo_server() as port:
        with FaultProxy("127.0.0.1", port, FaultSchedule(refuse_first=2)) as proxy:
            for _ in range(2):
                with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                    got = await round_trip(proxy.port)
                    if not got:  # a reset can also surface as an immediate EOF
                        raise ConnectionResetError
            assert await round_trip(proxy.port) == b"ping"
            assert proxy.stats["refused"] == 2


async def test_a_reset_connection_forwards_the_request_but_not_the_answer() -> None:
    async with echo_server() as port:
        schedule = FaultSchedule(reset=1.0)
        with FaultProxy("127.0.0.1", port, schedule) as proxy:
            plan = _Plan.draw(schedule, 1)
            assert plan.reset_at_chunk is not None
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            try:
                for _ in range(plan.reset_at_chunk):
                    writer.write(b"x")
                    await writer.drain()
                    await asyncio.sleep(0.05)
                with pytest.raises(ConnectionResetError):
                    async with asyncio.timeout(3):
                        while await reader.read(1024):
                            pass
                        raise ConnectionResetError  # EOF instead of a reset: also an end
            finally:
                writer.close()
            assert proxy.stats["reset"] == 1


async def test_established_connections_are_cut_after_their_lifetime_or_on_demand() -> None:
    async with echo_server() as port:
        with FaultProxy("127.0.0.1", port, FaultSchedule(cut_after_s=(0.2, 0.3))) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            began = time.monotonic()
            with pytest.raises(ConnectionResetError):
                async with asyncio.timeout(3):
                    while await reader.read(1024):
                        pass
                    raise ConnectionResetError
            assert 0.15 <= time.monotonic() - began < 2.0
            writer.close()
            proxy.set_schedule(FaultSchedule())
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"a")
            assert await reader.read(10) == b"a"
            assert proxy.cut_established() == 1
            with pytest.raises((ConnectionResetError, AssertionError)):
                async with asyncio.timeout(3):
                    assert await reader.read(10)
            writer.close()


async def test_a_delayed_connection_holds_only_its_first_chunk_each_way() -> None:
    async with echo_server() as port:
        schedule = FaultSchedule(delay=1.0, delay_s=(0.3, 0.3))
        with FaultProxy("127.0.0.1", port, schedule) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            try:
                began = time.monotonic()
                writer.write(b"1")
                assert await reader.read(10) == b"1"
                first = time.monotonic() - began
                began = time.monotonic()
                writer.write(b"2")
                assert await reader.read(10) == b"2"
                second = time.monotonic() - began
            finally:
                writer.close()
            assert first >= 0.55  # 0.3 s up, 0.3 s down
            assert second < 0.25
            assert proxy.stats["delayed"] == 1


async def test_a_blackholed_connection_stays_open_and_silent() -> None:
    async with echo_server() as port:
        with FaultProxy("127.0.0.1", port) as proxy:
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            try:
                writer.write(b"a")
                assert await reader.read(10) == b"a"
                assert proxy.blackhole_established() == 1
                writer.write(b"b")
                await writer.drain()
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await reader.read(10)  # no data, no EOF, no reset
                assert proxy.open_connections() == 1
            finally:
                writer.close()
            assert await round_trip(proxy.port) == b"ping"  # new connections work


def test_the_same_seed_makes_the_same_decisions_and_other_seeds_differ() -> None:
    schedule = FaultSchedule.at_rate(0.25, seed=7)
    first = [_Plan.draw(schedule, i) for i in range(1, 200)]
    assert first == [_Plan.draw(schedule, i) for i in range(1, 200)]
    other = [_Plan.draw(FaultSchedule.at_rate(0.25, seed=8), i) for i in range(1, 200)]
    assert first != other
    refused = sum(p.refuse for p in first) / len(first)
    assert 0.05 < refused < 0.2  # about 12.5 %
    assert all(p.cut_after_s is not None and 2 <= p.cut_after_s <= 30 for p in first)
