"""Helpers shared by the benchmark scripts: peak memory sampling and a settings-keyed data directory."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import psutil

__all__ = ["PeakRss", "cache_dir_for"]


class PeakRss:
    """Samples the resident memory of this process plus all its children (extraction workers) every 100 ms."""

    def __init__(self) -> None:
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._sample())
            time.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._sample())

    @property
    def peak_mb(self) -> float:
        return round(self.peak_bytes / 1e6, 1)


def cache_dir_for(corpus: Path, settings_json: str, root: Path) -> Path:
    """A data directory keyed by corpus content and settings, so an unchanged pair reuses its index."""
    digest = hashlib.sha256()
    with corpus.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(settings_json.encode())
    return root / f"{corpus.stem}-{digest.hexdigest()[:12]}"
