"""The failed-authentication counter: blocks an address past its limit, forgets after the window, and stays exact
when worker threads share it (keys in Neo4j are checked off the event loop)."""

from __future__ import annotations

import threading
import time

from server.tenancy import AuthFailures


def test_blocks_past_the_limit_and_names_the_wait():
    failures = AuthFailures(limit=3, window_s=60.0)
    for _ in range(2):
        failures.record("10.0.0.1")
    assert failures.retry_after("10.0.0.1") == 0
    failures.record("10.0.0.1")
    wait = failures.retry_after("10.0.0.1")
    assert 1 <= wait <= 60
    assert failures.retry_after("10.0.0.2") == 0  # another address is not affected


def test_forgets_failures_older_than_the_window():
    failures = AuthFailures(limit=2, window_s=1.5)  # wide enough that a stalled CI machine still sees both
    failures.record("10.0.0.1")
    failures.record("10.0.0.1")
    assert failures.retry_after("10.0.0.1") >= 1
    time.sleep(1.6)
    assert failures.retry_after("10.0.0.1") == 0


def test_threads_sharing_it_count_every_failure_and_never_fail():
    failures = AuthFailures(limit=400, window_s=60.0)
    one_more = AuthFailures(limit=401, window_s=60.0)
    expiring = AuthFailures(limit=5, window_s=0.001)  # entries expire and are deleted while others record
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def hammer() -> None:
        try:
            start.wait()
            for _ in range(50):
                failures.record("10.0.0.9")
                one_more.record("10.0.0.9")
                expiring.record("10.0.0.9")
                expiring.retry_after("10.0.0.9")
                failures.retry_after("10.0.0.9")
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure of a worker thread
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # 8 x 50 = 400 failures, each counted once: exactly one limit reached, the other not
    assert failures.retry_after("10.0.0.9") >= 1
    assert one_more.retry_after("10.0.0.9") == 0
