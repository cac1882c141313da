"""What a running pipeline shows on the console, and where its worker processes' logs go.

``Progress`` draws one tqdm bar on stderr while a phase runs: input bytes read of the total
(where the inputs are files) and the records that entered each stage, with their rate.
Counts come from ``transforms.stages.LOCAL_PROGRESS``, so they cover in-process workers;
runs on worker processes or remote runners report through the manifest at the end.

``worker_logs_to(path)`` sends what child processes write to stderr (Beam's multi-processing
SDK workers log there) to a file, while the progress bar and shardsmith's own messages keep
the console.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from tqdm import tqdm

from transforms.stages import BYTES_READ, LOCAL_PROGRESS


def _rate(count: int, seconds: float) -> str:
    per_second = count / seconds if seconds > 0 else 0.0
    return f"{per_second:,.0f}/s" if per_second >= 10 else f"{per_second:.1f}/s"


def stage_summary(counts: dict[str, int], seconds: float) -> str:
    """``read 1,200 (400/s) · prepare 1,100 (367/s)``: records per stage with their rate."""
    return " · ".join(f"{stage} {count:,} ({_rate(count, seconds)})" for stage, count in counts.items() if count > 0)


class Progress:
    """A tqdm progress bar of one phase, refreshed every ``interval`` seconds (a context manager)."""

    def __init__(self, total_bytes: int | None = None, interval: float = 2.0, stream=None,
                 idle: str = "starting"):
        self.total_bytes, self.idle = total_bytes or None, idle
        self.interval, self.stream = interval, stream or sys.stderr
        self.baseline = dict(LOCAL_PROGRESS)
        self.bytes_baseline = BYTES_READ[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.started = time.monotonic()
        self.bar = None

    def counts(self) -> dict[str, int]:
        """Records that entered each stage since this phase started."""
        return {k: v - self.baseline.get(k, 0) for k, v in list(LOCAL_PROGRESS.items())}

    def update(self) -> None:
        """Redraw the bar from the current counts."""
        self.bar.n = min(BYTES_READ[0] - self.bytes_baseline, self.total_bytes or float("inf"))
        self.bar.set_postfix_str(stage_summary(self.counts(), time.monotonic() - self.started) or self.idle,
                                 refresh=False)
        self.bar.refresh()

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.update()

    def __enter__(self):
        self.bar = tqdm(total=self.total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc="shardsmith",
                        file=self.stream, dynamic_ncols=True, mininterval=self.interval, leave=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=1)
        self.update()
        self.bar.close()


@contextlib.contextmanager
def worker_logs_to(path: str):
    """Redirect file descriptor 2 (inherited by worker processes) to ``path`` for the block.

    Yields a stream on the original stderr for what the user should still see (progress).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 2)
    os.close(log)
    console = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
    try:
        yield console
    finally:
        console.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
