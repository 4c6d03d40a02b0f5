"""Helpers for tests that run the real HTTP server in a subprocess."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(
    client: httpx.Client, server: subprocess.Popen, timeout_s: float = 120.0, path: str = "/v1/health"
) -> None:
    """Poll ``path`` (/v1/health; /schema/openapi.json needs no key) until it answers 200; fail the test if the
    server exits or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.get(path).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"server did not start: {output}")
        time.sleep(0.5)


@contextlib.contextmanager
def stopped_after(server: subprocess.Popen, timeout_s: float = 60.0) -> Iterator[subprocess.Popen]:
    """Yield ``server``; stop it on leaving the block, whatever failed inside (a fixture's set-up included): a
    server left running keeps its port and, on Neo4j, goes on claiming later tests' jobs."""
    try:
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=timeout_s)
