"""Manifest timings of a run in several phases (checkpoints around the LLM stages): the total is the
run's wall time, not the last phase's, and the LLM stages report the time they spent."""
from __future__ import annotations

import json
import time

from pipelines.cli import main
from tests.pipelines.test_pinned_outputs import stateless_script
from transforms.testing.openai_server import FakeOpenAIServer

LATENCY = 0.3


def test_total_and_llm_stage_seconds_cover_every_phase(tmp_path):
    out = tmp_path / "out"
    with FakeOpenAIServer(stateless_script, latency=LATENCY) as server:
        started = time.monotonic()
        assert main(["dr-sci", "--llm-base-url", server.url, "--llm-model", "fake-model", "--rollouts", "2",
                     "--llm-cache-dir", str(tmp_path / "cache"),
                     "--output", str(out)]) == 0
        wall = time.monotonic() - started
    timings = json.loads((out / "_manifest.json").read_text())["timings"]
    assert timings["total_seconds"] >= 0.7 * wall, (timings, wall)
    for stage in ("difficulty", "rubrics"):  # each waits at least one reply of the server
        assert timings["stage_seconds"][stage] >= LATENCY, timings
