"""Nothing acknowledged is lost, and a restart decides exactly as an uninterrupted run.

A `qalqan replay` process is killed with SIGKILL in the middle of a stream, started again on the
same record, and must write exactly the decisions of an uninterrupted run (latency aside).
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest


def _qalqan(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qalqan", *args], env=env, capture_output=True, text=True,
                          timeout=600, check=True)


def _decisions(path: Path) -> list[dict]:
    out = []
    for line in path.read_bytes().splitlines():
        d = msgspec.json.decode(line)
        d.pop("latency_ms")
        out.append(d)
    return out


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stream") / "events.jsonl"
    env = {**os.environ, "QALQAN_HOME": str(path.parent / "home")}
    _qalqan("simulate", "--customers", "400", "--days", "30", "--seed", "5", "-o", str(path), env=env)
    return path


def test_sigkill_mid_stream_then_restart_gives_identical_decisions(stream: Path, setup_db: str, tmp_path: Path):
    home = tmp_path / "home"
    base = {**os.environ, "QALQAN_HOME": str(home), "QALQAN_SNAPSHOT_EVERY": "7000"}
    full = tmp_path / "full.jsonl"
    _qalqan("replay", str(stream), "-o", str(full), "--fresh", env=base)
    expected = _decisions(full)
    assert len(expected) > 10_000

    env = {**base, "QALQAN_DB": setup_db}
    part = tmp_path / "part.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "qalqan", "replay", str(stream), "-o", str(part)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (part.exists() and part.stat().st_size > 0 and len(part.read_bytes().splitlines()) > 8000):
        assert proc.poll() is None, "the replay ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(part.read_bytes().splitlines())
    assert written < len(expected), "killed too late to test anything"
    # Every decision written before the kill was durable: it is the one the restart returns.
    rest = tmp_path / "rest.jsonl"
    result = _qalqan("replay", str(stream), "-o", str(rest), env=env)
    got = _decisions(rest)
    assert got == expected
    assert _decisions(part) == expected[:written]
    # The restart recognised the events stored before the kill (at least the decided ones).
    dups = int(re.search(r"([\d,]+) duplicates", result.stdout).group(1).replace(",", ""))
    assert dups >= written
