"""A simulated, decided record shared by the end-to-end report tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qalqan import config
from qalqan.engine import Engine
from qalqan.replay import replay
from qalqan.sim import simulate

SIM = {"customers": 200, "days": 35, "seed": 11}  # 2026-02-02 .. 2026-03-08: two calendar months
WINDOW = ("2026-02-02", "2026-03-08")


def decide_into(stream: Path, db_url: str, home: Path) -> None:
    engine = Engine(config.from_env(db_url=db_url, home=home))
    try:
        replay(engine, stream, None)
    finally:
        engine.close()


@pytest.fixture(scope="session")
def sim_stream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "events.jsonl"
    simulate(SIM["customers"], SIM["days"], SIM["seed"], path)
    return path


@pytest.fixture(scope="session")
def sim_db(sim_stream: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """sqlite URL of the simulated traffic, decided by the engine."""
    folder = tmp_path_factory.mktemp("record")
    url = f"sqlite:///{folder / 'record.db'}"
    decide_into(sim_stream, url, folder / "home")
    return url
