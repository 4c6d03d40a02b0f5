"""Who is asking: API key → tenant → that tenant's Engine. Route handlers reach an engine only through here.

With at least one active key (``graphrag keys create``) every request needs ``Authorization: Bearer <key>`` or
``X-API-Key: <key>`` and acts for the key's tenant; the tenant never comes from anything else the caller sends.
With no active key the server is in open mode: it accepts only clients on this machine (127.0.0.1 / ::1), and
they act for the default tenant.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from litestar import Request
from litestar.datastructures import State
from litestar.exceptions import TooManyRequestsException

from graphrag.engine import Ask, Engine, PendingRead, finish_together, prepare_together
from graphrag.errors import AuthError, RequestTimeoutError, StoreUnavailableError
from graphrag.ids import DEFAULT_TENANT
from graphrag.types import Answer

if TYPE_CHECKING:
    from server.state import ApiKeys

__all__ = ["AuthFailures", "TenantEngines", "TenantScope", "is_loopback", "presented_key", "tenant_scope"]


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or name) is this machine."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False


class TenantEngines:
    """One Engine per tenant, opened on first use from the root engine (sharing its models), closed together.

    Engine calls are serialised: the library is synchronous, SQLite has one writer, and the shared embedder is one
    model on two cores. Requests run them on one engine thread in arrival order (a FIFO queue), and that thread
    takes ``lock`` for each call, which the ingest-job worker takes too between its steps. (Sixteen request
    threads all waiting on the lock let the lock pick the winner instead: a request could lose several rounds in a
    row, which showed in the latency tail.)"""

    def __init__(self, root: Engine, keys: ApiKeys) -> None:
        self.root = root
        self.keys = keys
        self.lock = threading.RLock()
        self.queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self.pending_asks: deque[_PendingAsk] = deque()  # questions waiting for retrieval
        # The answer LM runs on a thread of its own, so retrieval and graph answers need not wait for its decoding;
        # questions waiting for it are decoded together.
        self.lm_queue = ThreadPoolExecutor(max_workers=1, thread_name_prefix="answer-lm")
        self.pending_reads: deque[tuple[_PendingAsk, PendingRead]] = deque()
        self.batch_size = root.settings.answer_batch_size
        self._engines: dict[str, Engine] = {root.settings.tenant: root}
        self.auth_failures = AuthFailures(root.settings.auth_failures_per_minute)

    def opened(self, tenant: str) -> Engine | None:
        """The tenant's engine if it is open already."""
        return self._engines.get(tenant)

    def open(self, tenant: str) -> Engine:
        """The tenant's engine, opened first if need be (under the lock: opening one may mend its indexes)."""
        with self.lock:
            engine = self._engines.get(tenant)
            if engine is None:
                engine = self._engines[tenant] = self.root.for_tenant(tenant)
            return engine

    def run(self, fn, *args):
        """Run ``fn(*args)`` on the engine thread, in turn with the requests queued before it, and wait for it
        (the ingest-job worker's steps go this way, so questions queued during a step are answered before the
        next one). RuntimeError once the server is closing."""

        def locked():
            with self.lock:
                return fn(*args)

        return self.queue.submit(locked).result()

    def answer_pending(self) -> None:
        """On the engine thread: retrieve for the questions waiting (up to ``batch_size``, skipping those dropped at
        their deadline) and answer each that needs no model at once; hand those the answer LM must read to the LM
        thread, which decodes every question waiting for it in one batch. Retrieval and graph answers thus go on
        while the LM decodes."""
        batch: list[_PendingAsk] = []
        while self.pending_asks and len(batch) < self.batch_size:
            pending = self.pending_asks.popleft()
            if pending.ticket.start():
                batch.append(pending)
        if not batch:
            return
        try:
            with self.lock:
                outcomes = prepare_together([(p.engine, p.ask) for p in batch])
        except Exception as exc:  # a failure of the batch as a whole: each question reports it as its own
            outcomes = [exc] * len(batch)
        for pending, outcome in zip(batch, outcomes):
            if isinstance(outcome, PendingRead):
                self.pending_reads.append((pending, outcome))
                try:
                    self.lm_queue.submit(self.read_pending)
                except RuntimeError as exc:  # the server is closing
                    pending.result.set_exception(exc)
            else:
                _settle(pending.result, outcome)

    def read_pending(self) -> None:
        """On the LM thread: the answers of every question waiting for the model (up to ``batch_size``), their
        replies decoded in one batch."""
        batch = []
        while self.pending_reads and len(batch) < self.batch_size:
            batch.append(self.pending_reads.popleft())
        if not batch:
            return
        try:
            outcomes = finish_together([read for _, read in batch])
        except Exception as exc:
            outcomes = [exc] * len(batch)
        for (pending, _), outcome in zip(batch, outcomes):
            _settle(pending.result, outcome)

    def close(self, close_root: bool) -> int:
        """Close every engine opened here (each saves its vector indexes), and the root one too when asked;
        returns how many were closed. Calls still queued are dropped first; a running one finishes before."""
        self.queue.shutdown(wait=False, cancel_futures=True)
        self.lm_queue.shutdown(wait=True, cancel_futures=True)  # a running batch finishes before engines close
        closed = 0
        with self.lock:
            for engine in list(self._engines.values()):
                if engine is not self.root or close_root:
                    engine.close()
                    closed += 1
            self._engines = {self.root.settings.tenant: self.root}
        return closed


class TenantScope:
    """The caller's tenant and engine, and the way to call into it off the event loop. (A plain class: Litestar
    checks a dependency's type, and a dataclass would make it try to convert the lock field.)"""

    __slots__ = ("engine", "engines", "tenant", "timeout_s")

    def __init__(self, tenant: str, engine: Engine, engines: TenantEngines, timeout_s: float) -> None:
        self.tenant = tenant
        self.engine = engine
        self.engines = engines
        self.timeout_s = timeout_s

    async def call(self, fn, *args, write: bool = False, **kwargs):
        """Queue ``fn(*args, **kwargs)`` for the engine thread (run under the engine lock, in arrival order).

        ``request_timeout_s`` bounds the wait. A call still queued when it passes is dropped, never run, and the
        caller gets RequestTimeoutError: nothing happened. A call that has started cannot be stopped; a read that
        overruns is answered RequestTimeoutError while it finishes for nobody, but a ``write`` that has started
        is waited for and its result returned, so a write is either done and acknowledged or not done at all
        (a 503 never hides a stored document)."""
        ticket = _Ticket()

        def run():
            if not ticket.start():
                return None  # dropped while queued: the caller has been told nothing happened
            with self.engines.lock:
                return fn(*args, **kwargs)

        future = self._submit(run)
        return await self._wait(future, ticket, write)

    async def ask(self, ask: Ask) -> Answer:
        """Answer a question: retrieval (and the graph's answer) on the engine thread, with the questions queued
        with it; the answer LM's reading on the LM thread, decoded in one batch with every question waiting for it
        (``TenantEngines.answer_pending``), up to ``answer_batch_size``. The deadline works as in ``call``."""
        pending = _PendingAsk(self.engine, ask, _Ticket(), Future())
        self.engines.pending_asks.append(pending)
        self._submit(self.engines.answer_pending)  # one turn per question; a turn with none left does nothing
        return await self._wait(asyncio.wrap_future(pending.result), pending.ticket, write=False)

    def _submit(self, fn):
        try:
            return asyncio.get_running_loop().run_in_executor(self.engines.queue, fn)
        except RuntimeError as exc:  # the engine queue is closed: the server is stopping
            raise StoreUnavailableError("the server is shutting down; retry against a running server") from exc

    async def _wait(self, future, ticket: _Ticket, write: bool):
        done, _ = await asyncio.wait({future}, timeout=self.timeout_s)
        if done:
            return future.result()
        if ticket.drop():
            future.cancel()
            raise RequestTimeoutError(
                f"the request waited longer than {self.timeout_s:g} s for its turn (setting request_timeout_s) and "
                "was dropped unrun; nothing was changed, so it is safe to retry"
            )
        if write:
            return await future
        raise RequestTimeoutError(
            f"the request took longer than {self.timeout_s:g} s (setting request_timeout_s); "
            "the server is busy or the store is slow"
        )


def _settle(result: Future, outcome) -> None:
    """Hand a question its answer or its error."""
    if isinstance(outcome, BaseException):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)


@dataclass(frozen=True, slots=True)
class _PendingAsk:
    """A question waiting for the engine thread, and where its answer (or error) goes."""

    engine: Engine
    ask: Ask
    ticket: _Ticket
    result: Future


class _Ticket:
    """Whether a queued engine call has started or was dropped: whichever happens first wins, under a lock."""

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "queued"

    def start(self) -> bool:
        """Called by the engine thread; False when the call was dropped first."""
        with self._lock:
            if self._state == "dropped":
                return False
            self._state = "running"
            return True

    def drop(self) -> bool:
        """Called at the deadline; False when the call has started already."""
        with self._lock:
            if self._state == "running":
                return False
            self._state = "dropped"
            return True


def presented_key(request: Request) -> str | None:
    """The API key the request carries, if any (not yet checked). AuthError when ``Authorization`` and
    ``X-API-Key`` name two different keys: acting for either would be a guess."""
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    other = request.headers.get("x-api-key")
    if bearer is not None and other is not None and bearer != other.strip():
        raise AuthError("the request names two different API keys (Authorization and X-API-Key); send one")
    return bearer if bearer is not None else other


class AuthFailures:
    """Failed authentications per client address in a sliding minute. Past ``limit`` the address is answered 429
    with Retry-After before its key is even looked up, so guessing keys costs time. Safe to share between threads:
    with keys in Neo4j, authentication runs on worker threads."""

    def __init__(self, limit: int = 30, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds until ``address`` may try again (0: now)."""
        with self._lock:
            times = self._failures.get(address)
            if not times:
                return 0
            now = time.monotonic()
            while times and now - times[0] > self.window_s:
                times.popleft()
            if len(times) < self.limit:
                if not times:
                    del self._failures[address]
                return 0
            return max(1, math.ceil(self.window_s - (now - times[0])))

    def record(self, address: str) -> None:
        """Count one failed authentication from ``address``."""
        with self._lock:
            if len(self._failures) > 100_000:  # bound the memory a flood of addresses can take
                self._failures.clear()
            self._failures.setdefault(address, deque()).append(time.monotonic())


def _authenticate(request: Request, engines: TenantEngines) -> str:
    address = request.client.host if request.client else "unknown"
    wait = engines.auth_failures.retry_after(address)
    if wait:
        raise TooManyRequestsException(
            detail=f"too many failed authentications from this address; retry after {wait} s",
            headers={"Retry-After": str(wait)},
        )
    try:
        return _tenant_of(request, engines)
    except AuthError:
        engines.auth_failures.record(address)
        raise


def _tenant_of(request: Request, engines: TenantEngines) -> str:
    key = presented_key(request)
    if key is not None:
        tenant = engines.keys.tenant_for(key)
        if tenant is None:
            raise AuthError("the API key is unknown or revoked")
        return tenant
    if engines.keys.any_active():
        raise AuthError("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise AuthError(
            "open mode (no API keys exist) accepts requests from this machine only; "
            "create a key with 'graphrag keys create'"
        )
    return DEFAULT_TENANT


async def tenant_scope(request: Request, state: State) -> TenantScope:
    """Litestar dependency: authenticate the request and hand over its tenant's engine.

    A key lookup in SQLite (one indexed read, about 0.25 ms) runs on the event loop: a hop to a worker thread for it
    cost more than the lookup under load. One in Neo4j (replicas) is a network round trip and goes to a thread, as
    does opening a tenant's engine for the first time."""
    engines: TenantEngines = state.tenants
    if engines.keys.remote:
        tenant = await anyio.to_thread.run_sync(_authenticate, request, engines)
    else:
        tenant = _authenticate(request, engines)
    request.scope.setdefault("state", {})["tenant"] = tenant  # for the access log
    engine = engines.opened(tenant)
    if engine is None:
        engine = await anyio.to_thread.run_sync(engines.open, tenant)
    return TenantScope(tenant, engine, engines, engines.root.settings.request_timeout_s)
