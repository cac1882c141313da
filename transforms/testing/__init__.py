"""TEST DOUBLES at shardsmith's process boundaries, for its own tests and for yours.

- ``transforms.testing.openai_server.FakeOpenAIServer``: a real local HTTP server (127.0.0.1)
  speaking OpenAI chat completions, answering from a script, a queue of replies (429 with
  Retry-After, 500, malformed JSON, dripping bodies, ...) or an echo; it records every request.
  The real integration it stands in for: ``transforms.llm.client.LlmClient`` against any
  OpenAI-compatible endpoint.
- ``FAKE_VERUS`` (``fake_verus.py``): a fake ``verus`` executable that accepts Verus's command
  line, answers by ``// FAKE_VERUS: <outcome>`` markers in the program and writes Verus's JSON
  report; ``install_fake_verus`` puts it on disk as an executable ``verus``. The real integration:
  ``transforms.verus.verifier`` running a real Verus.

Nothing here is used by the product; nothing here talks to anything but 127.0.0.1.
"""
from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

FAKE_VERUS = Path(__file__).with_name("fake_verus.py")


def install_fake_verus(path: str | os.PathLike, env: dict[str, str] | None = None) -> Path:
    """Write an executable ``verus`` wrapper at ``path`` that runs ``FAKE_VERUS`` with ``env`` set
    (e.g. ``FAKE_VERUS_RECORD``: a JSONL file of the command lines it was called with)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    assignments = "".join(f"{name}={shlex.quote(str(value))} " for name, value in (env or {}).items())
    path.write_text(f"#!/bin/sh\n{assignments}exec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_VERUS))} "
                    "\"$@\"\n")
    path.chmod(0o755)
    return path
