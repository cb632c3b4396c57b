"""Every command of the CLI is documented: `qalqan <command>` (and each subcommand of a group)
appears in the README or a page of docs/. A new command without a word about it fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from qalqan.cli import app

ROOT = Path(__file__).resolve().parents[2]


def commands(group: Any, prefix: str = "qalqan") -> list[str]:
    if not hasattr(group, "commands"):  # a command, not a group (typer's groups are its own click's)
        return [prefix]
    found = []
    for name, sub in group.commands.items():
        if getattr(sub, "hidden", False):
            continue
        found += commands(sub, f"{prefix} {name}")
    return found


def documentation() -> str:
    return "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def test_every_command_is_documented() -> None:
    text = " ".join(documentation().split())
    missing = [c for c in commands(typer.main.get_command(app)) if c not in text]
    assert missing == [], f"commands with no word in README.md or docs/: {missing}"


def test_the_check_sees_the_commands() -> None:
    found = commands(typer.main.get_command(app))
    assert "qalqan serve" in found and "qalqan keys create" in found and len(found) > 20
