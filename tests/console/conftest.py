"""The console's fixture: one seeded server per test module (helpers.py says what it holds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import Site, start


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One seeded server for a module's tests (SQLite)."""
    home = tmp_path_factory.mktemp("console") / "home"
    yield from start(f"sqlite:///{home / 'record.db'}", home)
