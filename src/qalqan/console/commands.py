"""CLI commands of the console (registered by qalqan.cli): ``qalqan users create|list|disable``.

Example:

    printf '%s\\n' 'a long passphrase' | qalqan users create aigerim --role analyst --org halyk --password-stdin
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from .users import ROLES, UserBook, UserError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _home() -> Path:
    from .. import config

    try:
        return config.from_env().home
    except config.ConfigError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def create(
    name: str = typer.Argument(..., help="the login name"),
    role: str = typer.Option(..., help=", ".join(ROLES)),
    org: str = typer.Option(..., help="the organisation whose data the user sees"),
    merchant: str | None = typer.Option(None, help="merchant users: their merchant_id (they see only its payments)"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin"),
) -> None:
    """Make a console user; the password is stored only as its scrypt hash."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = UserBook.load(_home()).create(name, role, org, password, merchant)
    except UserError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"user {user.name} ({user.role}, {user.org}) created")


def list_users() -> None:
    """The users: name, role, organisation, whether disabled (never the password)."""
    for u in UserBook.load(_home()).users.values():
        out.print(f"{u.name:20s} {u.role:9s} {u.org:16s} {'disabled' if u.disabled else 'active'}")


def disable(name: str = typer.Argument(...)) -> None:
    """Disable a user: they cannot log in again (running sessions end at their next request)."""
    if not UserBook.load(_home()).disable(name):
        err.print(f"[red]error:[/red] no active user {name!r}")
        raise typer.Exit(1)
    out.print(f"disabled {name}")


def register(app: typer.Typer) -> None:
    users = typer.Typer(help="Console users with roles (passwords stored as scrypt hashes in QALQAN_HOME).")
    users.command("create")(create)
    users.command("list")(list_users)
    users.command("disable")(disable)
    app.add_typer(users, name="users")
