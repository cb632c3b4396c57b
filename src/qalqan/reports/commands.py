"""CLI commands of the reports part (registered by qalqan.cli)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds `contract` and `report` to the qalqan command."""
