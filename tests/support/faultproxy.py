"""A TCP proxy that injects network faults on a seeded schedule, for tests and benchmarks.

It sits between a client and a server (``ccc run`` and kube-apiserver, the GKE provider and the
emulator) and forwards bytes, TLS included, without looking inside. What it can do to a
connection:

- **refuse**: reset it as soon as it is accepted, before a byte is forwarded. (A user-space
  proxy cannot refuse a SYN: the kernel completes the TCP handshake first. The client sees its
  TLS handshake or first request reset, which it must treat like a refused connection.
  :meth:`FaultProxy.close_port` gives a real ``ECONNREFUSED`` for a while.)
- **reset**: forward the first 1–3 chunks the client sends, then reset both sides when the
  server answers, instead of forwarding the answer. The server may have acted on the request
  (created an object) while the client sees only a reset: retries must be idempotent.
- **cut**: reset an established connection after ``cut_after_s`` (watches and idle keep-alive
  connections included), the way a load balancer or NAT drops long-lived connections.
- **delay**: hold the connection's first chunk each way for ``delay_s``: a slow connection
  setup (lost SYNs, a slow handshake, a slow first answer).
- **slow**: hold *every* chunk of the connection, both ways, for ``slow_s``: a slow link, whose
  cost grows with every round trip made over it.
- **blackhole**: from some moment on, forward nothing either way and answer nothing, while
  keeping both sockets open: packets lost without a reset. Only a read deadline or keep-alive
  probes can tell. (The proxy's own kernel still acknowledges TCP keep-alive probes, so here
  only the client's application-level deadlines can notice; a real dead link also fails
  keep-alive.)

Each accepted connection draws its faults from ``random.Random(f"{seed}:{index}")``, ``index``
counting connections in accept order: the same seed gives the same sequence of decisions. The
proxy runs in a thread with its own event loop, so it keeps forwarding whatever the test's event
loop or the processes around it do; its methods may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

_CHUNK = 65536


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Which faults a new connection gets (probabilities are per connection).

    Attributes:
        seed: seeds the decisions (with each connection's index).
        refuse: probability of a reset at accept.
        reset: probability of a reset when the server answers the client's 1st–3rd chunk.
        delay: probability that the connection's setup is slow: its first chunk each way
            waits a duration drawn once per connection from ``delay_s``.
        delay_s: (min, max) seconds of that wait.
        slow: probability that the whole connection is slow: every chunk waits ``slow_s``.
        slow_s: (min, max) seconds of that wait (drawn once per connection).
        cut_after_s: (min, max) lifetime after which every connection is reset; None: never.
        blackhole: probability that the connection goes silent after ``blackhole_after_s``.
        blackhole_after_s: (min, max) seconds from accept to the blackhole.
        refuse_first: refuse the first this many connections accepted under the schedule,
            whatever the draws (a deterministic fault for tests).
    """

    seed: int = 0
    refuse: float = 0.0
    reset: float = 0.0
    delay: float = 0.0
    delay_s: tuple[float, float] = (0.05, 0.5)
    slow: float = 0.0
    slow_s: tuple[float, float] = (0.05, 0.5)
    cut_after_s: tuple[float, float] | None = None
    blackhole: float = 0.0
    blackhole_after_s: tuple[float, float] = (1.0, 10.0)
    refuse_first: int = 0

    @classmethod
    def at_rate(cls, rate: float, *, seed: int = 0, **overrides: Any) -> FaultSchedule:
        """The benchmark's mix at ``rate`` (0.25 = "25 % faults"): that share of new
        connections refused or reset (half each), that share with a setup delayed by 50–500 ms,
        and every established connection cut after 2–30 s. Slow links and blackholes are off
        (their cost is the network's round trips and a detection deadline; measured apart)."""
        if rate <= 0:
            return cls(seed=seed, **overrides)
        base = cls(
            seed=seed,
            refuse=rate / 2,
            reset=rate / 2,
            delay=rate,
            cut_after_s=(2.0, 30.0),
        )
        return replace(base, **overrides)


NO_FAULTS = FaultSchedule()


@dataclass(slots=True)
class _Plan:
    refuse: bool
    reset_at_chunk: int | None
    delay_s: float
    slow_s: float
    cut_after_s: float | None
    blackhole_after_s: float | None

    @classmethod
    def draw(cls, s: FaultSchedule, index: int) -> _Plan:
        """The plan of the ``index``-th connection accepted under ``s``. Each connection has
        its own RNG seeded by ``(seed, index)`` and every value is always drawn, in a fixed
        order (new kinds of fault are drawn last), so one fault's probability never shifts
        another's draws."""
        rng = random.Random(f"{s.seed}:{index}")
        refuse = rng.random() < s.refuse
        reset = rng.random() < s.reset
        reset_chunk = rng.randint(1, 3)
        delayed = rng.random() < s.delay
        delay_s = rng.uniform(*s.delay_s)
        cut_s = rng.uniform(*s.cut_after_s) if s.cut_after_s else None
        blackholed = rng.random() < s.blackhole
        blackhole_s = rng.uniform(*s.blackhole_after_s)
        slowed = rng.random() < s.slow
        slow_s = rng.uniform(*s.slow_s)
        return cls(
            refuse=refuse,
            reset_at_chunk=reset_chunk if reset else None,
            delay_s=delay_s if delayed else 0.0,
            slow_s=slow_s if slowed else 0.0,
            cut_after_s=cut_s,
            blackhole_after_s=blackhole_s if blackholed else None,
        )


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    blackholed: bool = False
    closed: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def _abort(writer: asyncio.StreamWriter | None) -> None:
    """Close with a TCP reset (SO_LINGER 0), not a FIN."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """A fault-injecting TCP proxy to ``upstream_host:upstream_port`` (module docstring).

    Use as a context manager (``with FaultProxy(...) as proxy:``) or ``start()``/``stop()``.
    ``proxy.port`` is the listening port on 127.0.0.1; ``proxy.stats`` counts what happened
    (``accepted``, ``refused``, ``reset``, ``cut``, ``delayed``, ``slowed``, ``blackholed``).
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        schedule: FaultSchedule = NO_FAULTS,
        *,
        port: int = 0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.stats: Counter[str] = Counter()
        self._schedule = schedule
        self._accepted_under_schedule = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._blackhole_new = False

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        ready: Future[None] = Future()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open())
            except BaseException as error:
                ready.set_exception(error)
                loop.close()
                return
            ready.set_result(None)
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=main, name=f"fault-proxy-{self.upstream}")
        self._thread.daemon = True
        self._thread.start()
        ready.result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- control (any thread) ----------------------------------------------------------------

    @property
    def schedule(self) -> FaultSchedule:
        return self._schedule

    def set_schedule(self, schedule: FaultSchedule) -> None:
        """Apply ``schedule`` to connections accepted from now on (counting them from 1)."""
        self._call(self._set_schedule, schedule)

    def blackhole_established(self) -> int:
        """Make every open connection silent both ways, keeping it open; returns how many."""
        return int(self._call(self._blackhole_all))

    def blackhole_new_connections(self, on: bool) -> None:
        """While on, new connections are accepted and then never forwarded (a dead route)."""
        self._call(self._set_blackhole_new, on)

    def cut_established(self) -> int:
        """Reset every open connection; returns how many."""
        return int(self._call(self._cut_all))

    def close_port(self) -> None:
        """Stop listening: new connections are refused (``ECONNREFUSED``) until
        :meth:`open_port`. Established ones are left alone."""
        self._call_async(self._close_port())

    def open_port(self) -> None:
        """Listen again on the same port."""
        self._call_async(self._open())

    def open_connections(self) -> int:
        return len(self._connections)

    def _call(self, fn: Any, *args: Any) -> Any:
        async def run() -> Any:
            return fn(*args)

        return self._call_async(run())

    def _call_async(self, coro: Any) -> Any:
        assert self._loop is not None, "the proxy is not running"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- inside the proxy's loop ---------------------------------------------------------------

    def _set_schedule(self, schedule: FaultSchedule) -> None:
        self._schedule = schedule
        self._accepted_under_schedule = 0

    def _set_blackhole_new(self, on: bool) -> None:
        self._blackhole_new = on

    def _blackhole_all(self) -> int:
        count = 0
        for conn in self._connections:
            if not conn.blackholed:
                conn.blackholed = True
                count += 1
        self.stats["blackholed"] += count
        return count

    def _cut_all(self) -> int:
        conns = list(self._connections)
        for conn in conns:
            self._close(conn, reset=True)
        self.stats["cut"] += len(conns)
        return len(conns)

    async def _open(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_port(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _shutdown(self) -> None:
        await self._close_port()
        for conn in list(self._connections):
            self._close(conn, reset=True)
        tasks = [t for conn in list(self._connections) for t in conn.tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _close(self, conn: _Connection, *, reset: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._connections.discard(conn)
        if reset:
            _abort(conn.client)
            _abort(conn.upstream)
        else:
            conn.client.close()
            if conn.upstream is not None:
                conn.upstream.close()
        for task in conn.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["accepted"] += 1
        self._accepted_under_schedule += 1
        plan = _Plan.draw(self._schedule, self._accepted_under_schedule)
        conn = _Connection(client=writer)
        if plan.refuse or self._accepted_under_schedule <= self._schedule.refuse_first:
            self.stats["refused"] += 1
            _abort(writer)
            return
        self._connections.add(conn)
        if self._blackhole_new:
            conn.blackholed = True
            self.stats["blackholed"] += 1
        try:
            up_reader, conn.upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            self.stats["upstream_unreachable"] += 1
            self._close(conn, reset=True)
            return
        if plan.delay_s:
            self.stats["delayed"] += 1
        if plan.slow_s:
            self.stats["slowed"] += 1
        armed = asyncio.Event()
        conn.tasks = [
            asyncio.create_task(self._pipe(conn, reader, conn.upstream, plan, armed, up=True)),
            asyncio.create_task(self._pipe(conn, up_reader, writer, plan, armed, up=False)),
        ]
        if plan.cut_after_s is not None:
            conn.tasks.append(asyncio.create_task(self._cut_later(conn, plan.cut_after_s)))
        if plan.blackhole_after_s is not None:
            conn.tasks.append(
                asyncio.create_task(self._blackhole_later(conn, plan.blackhole_after_s))
            )
        await asyncio.gather(*conn.tasks, return_exceptions=True)

    async def _pipe(
        self,
        conn: _Connection,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        plan: _Plan,
        armed: asyncio.Event,
        *,
        up: bool,
    ) -> None:
        chunks = 0
        try:
            while data := await source.read(_CHUNK):
                if conn.blackholed:
                    continue  # swallowed: nothing arrives, nothing is refused
                if plan.slow_s or (plan.delay_s and chunks == 0):
                    await asyncio.sleep(plan.slow_s + (plan.delay_s if chunks == 0 else 0.0))
                if not up and armed.is_set():
                    self.stats["reset"] += 1
                    self._close(conn, reset=True)
                    return
                sink.write(data)
                await sink.drain()
                chunks += 1
                if up and plan.reset_at_chunk is not None and chunks >= plan.reset_at_chunk:
                    armed.set()
        except (OSError, asyncio.IncompleteReadError):
            pass
        # One side ended: end the other too. A blackholed connection stays open towards the
        # client (nothing gets through, not even the end) until the client gives up.
        if up or not conn.blackholed:
            self._close(conn, reset=False)

    async def _cut_later(self, conn: _Connection, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if not conn.closed:
            self.stats["cut"] += 1
            self._close(conn, reset=True)

    async def _blackhole_later(self, conn: _Connection, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if not conn.closed and not conn.blackholed:
            conn.blackholed = True
            self.stats["blackholed"] += 1


def proxied_kubeconfig(source: Path, proxy: FaultProxy, dest: Path) -> Path:
    """Write a copy of the kubeconfig ``source`` whose clusters point at ``proxy``.

    The API server's certificate names 127.0.0.1, so TLS verification still passes through
    the proxy's port.
    """
    config = yaml.safe_load(source.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://{proxy.address}"
    dest.write_text(yaml.safe_dump(config, sort_keys=False))
    dest.chmod(0o600)
    return dest


@contextlib.contextmanager
def fault_proxy(
    upstream_host: str, upstream_port: int, schedule: FaultSchedule = NO_FAULTS
) -> Iterator[FaultProxy]:
    """A running :class:`FaultProxy`, stopped on exit."""
    proxy = FaultProxy(upstream_host, upstream_port, schedule).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@contextlib.contextmanager
def apiserver_proxy(
    server: str, kubeconfig: Path, work_dir: Path, schedule: FaultSchedule = NO_FAULTS
) -> Iterator[tuple[FaultProxy, Path]]:
    """A :class:`FaultProxy` in front of the API server at ``server`` (``https://host:port``)
    and a copy of ``kubeconfig`` that goes through it (written into ``work_dir``)."""
    host, port = server.removeprefix("https://").rsplit(":", 1)
    with fault_proxy(host, int(port), schedule) as proxy:
        dest = work_dir / f"proxied-{proxy.port}.kubeconfig"
        yield proxy, proxied_kubeconfig(kubeconfig, proxy, dest)
