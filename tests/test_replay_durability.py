"""`replay` never writes a decision before its event is durable in the record.

The restart test (test_restart.py) cannot see this: decisions are deterministic, so a replay that
writes a group's decisions before committing it, killed and started again, still ends with the
same lines. Here the check is decision by decision:

- in process: the output is a writer that, for every decision line it is handed, asks the record
  through a connection of its own (which sees committed rows only) whether the event is there
  with this very decision;
- across SIGKILL: a replay with a commit group of 100 events is killed mid-stream, and every decision line
  in its output must name an event the record holds, with that decision; the number of lines is
  compared with the record's money movements (context events get no decision), and may lag it
  by one commit group at most (killed between a commit and the write that follows it).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from conftest import ev, payment, transfer
from qalqan.config import from_env
from qalqan.engine import Engine
from qalqan.events import MONEY_TYPES
from qalqan.replay import replay

GROUP = 7
# Across SIGKILL a larger group: with tiny groups the process spends most of its time inside the
# commit, where the page cache already shows the group to another reader, and a kill there
# proves nothing; with 100 events a group it is almost always killed while deciding.
KILL_GROUP = 100


class DurableOnlyOut:
    """A binary output that checks each decision against the committed record before taking it."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        self.lines: list[bytes] = []
        self.early: list[str] = []

    def write(self, data: bytes) -> int:
        for line in data.splitlines():
            eid = msgspec.json.decode(line)["event_id"]
            row = self.conn.execute("SELECT decision FROM events WHERE event_id = ?", (eid,)).fetchone()
            if row is None or bytes(row[0]) != line:
                self.early.append(eid)
            self.lines.append(line)
        return len(data)

    def flush(self) -> None:
        pass


def _stream(path: Path, n: int = 60) -> Path:
    """Money movements with context events between them (which get no decision) and one bad line."""
    lines: list[bytes] = []
    for i in range(n):
        ts = f"2026-02-02T10:{i // 60:02d}:{i % 60:02d}Z"
        if i % 3 == 0:
            lines.append(ev("login", event_id=f"ctx-{i}", ts=ts, device_id=f"d{i % 4}", success=True))
        elif i % 3 == 1:
            lines.append(transfer(event_id=f"tr-{i}", ts=ts, amount=str(1000 + i)))
        else:
            lines.append(payment(event_id=f"pay-{i}", ts=ts, amount=str(100 + i)))
        if i == 30:
            lines.append(b'{"type": "payment", "event_id": "bad"}')
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("group", [1, GROUP, 1000])
def test_each_decision_is_written_only_once_its_event_is_committed(tmp_path: Path, group: int):
    db = tmp_path / "record.db"
    settings = dataclasses.replace(from_env(db_url=f"sqlite:///{db}"), commit_every=group)
    engine = Engine(settings)
    engine.commit()  # the record's tables exist before the checking connection opens
    out = DurableOnlyOut(db)
    stats = replay(engine, _stream(tmp_path / "events.jsonl"), out=out)  # type: ignore[arg-type]
    engine.close()
    assert out.early == [], f"written before their events were durable: {out.early}"
    assert len(out.lines) == stats.decisions == 40  # 40 money movements, 20 logins, 1 bad line
    assert len(stats.errors) == 1


def _money_in_record(db: Path) -> dict[str, bytes]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        types = tuple(sorted(MONEY_TYPES))
        rows = conn.execute(f"SELECT event_id, decision FROM events WHERE type IN ({','.join('?' * len(types))})",
                            types).fetchall()
    finally:
        conn.close()
    return {eid: bytes(d) for eid, d in rows}


def test_sigkill_mid_replay_leaves_no_decision_the_record_lacks(tmp_path: Path):
    from qalqan.sim import simulate

    stream = tmp_path / "s.jsonl"
    simulate(300, 20, 3, stream)
    db = tmp_path / "record.db"
    part = tmp_path / "part.jsonl"
    env = {**os.environ, "QALQAN_HOME": str(tmp_path / "home"), "QALQAN_DB": f"sqlite:///{db}",
           "QALQAN_COMMIT_EVERY": str(KILL_GROUP)}
    proc = subprocess.Popen([sys.executable, "-m", "qalqan", "replay", str(stream), "-o", str(part)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while not (part.exists() and len(part.read_bytes().splitlines()) > 2000):
            assert proc.poll() is None, "the replay ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lines = part.read_bytes().splitlines()
    if lines and not lines[-1].endswith(b"}"):
        lines.pop()  # a line cut by the kill is no decision
    money = _money_in_record(db)
    events = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT count(*) FROM events").fetchone()[0]
    assert events > len(money), "the stream has context events: the count below must not use them"
    missing = [msgspec.json.decode(line)["event_id"] for line in lines
               if money.get(msgspec.json.decode(line)["event_id"]) != line]
    assert missing == [], f"{len(missing)} decisions written, their events not durable: {missing[:5]}"
    assert len(lines) <= len(money)
    assert len(money) - len(lines) <= KILL_GROUP  # killed at worst between a commit and its write
