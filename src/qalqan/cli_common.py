"""What every command group of the CLI shares: the consoles, settings read or a clean exit, an
engine opened and closed. Command modules import this, never ``cli`` (which imports them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from . import config

if TYPE_CHECKING:
    from .engine import Engine

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings(db: str | None = None, home: str | None = None) -> config.Settings:
    """The settings, or exit 2 naming the bad one."""
    try:
        return config.from_env(db_url=db, home=home)
    except config.ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@contextmanager
def engine(db: str | None = None, home: str | None = None, keep_state: bool = True) -> Iterator[Engine]:
    """An engine for one command, closed (its last writes committed) when the command ends."""
    import dataclasses

    from .engine import Engine
    from .state import StateError
    from .store import StoreError

    chosen = settings(db, home)
    if not keep_state:  # a scratch record: no copy of its state outlives it (QALQAN_STATE)
        chosen = dataclasses.replace(chosen, state_url=None)
    try:
        opened = Engine(chosen)
    except (StoreError, StateError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        yield opened
    finally:
        opened.close()
