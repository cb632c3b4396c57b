"""CLI commands of the receipts part (registered by qalqan.cli): ``receipts key rotate|list|revoke``,
``receipts show EVENT_ID`` and ``receipts verify CODE``. Thin shells over receipts/."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

if TYPE_CHECKING:  # cryptography loads only when a receipts command runs
    from .keys import ReceiptKeys

receipts_app = typer.Typer(help="Signed receipts of approved payments and transfers (Ed25519), and their keys.")
key_app = typer.Typer(help="The operator's receipt-signing keys, in QALQAN_HOME/receipt-keys.json (0600).")
receipts_app.add_typer(key_app, name="key")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def _ring() -> ReceiptKeys:
    from ..cli_common import settings as _settings
    from .keys import ReceiptKeyError, ReceiptKeys

    try:
        return ReceiptKeys.load(_settings().home)
    except ReceiptKeyError as exc:
        raise _fail(str(exc)) from None


@key_app.command("rotate")
def key_rotate() -> None:
    """Make a new signing key; the old one stops signing but its receipts keep verifying.

    Example: qalqan receipts key rotate
    """
    ring = _ring()
    new = ring.rotate()
    out.print(f"active key {new.kid}; receipts signed before keep verifying with the retired keys")


@key_app.command("list")
def key_list() -> None:
    """The keys: id, status, dates and public half (never a private one)."""
    for k in _ring().published():
        since = k.get("revoked") or k.get("retired") or k["created"]
        extra = f"  {k['reason']}" if k["status"] == "revoked" else ""
        out.print(f"{k['kid']}  {k['status']:8s} {since}  {k['public']}{escape(extra)}", highlight=False)


@key_app.command("revoke")
def key_revoke(
    kid: str, reason: str = typer.Option(..., help="why: shown to whoever checks one of its receipts"),
) -> None:
    """Revoke a key that leaked: every receipt it signed fails verification from now on."""
    try:
        k = _ring().revoke(kid, reason)
    except KeyError as exc:
        raise _fail(str(exc.args[0]), 1) from None
    out.print(f"revoked {k.kid}: {escape(k.reason)}")


@receipts_app.command("show")
def show(
    event_id: str,
    as_json: bool = typer.Option(False, "--json", help="print the receipt as JSON"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """The signed receipt of an approved payment or transfer: its code (for a QR) and what it says.

    Example: qalqan receipts show pay-2026-000123
    """
    from ..cli_common import engine as _engine
    from .issue import NoReceipt, Verifier, issue
    from .keys import ReceiptKeyError

    with _engine(db) as engine:
        try:
            ring = _ring()
            issued = issue(engine, ring, event_id)
        except NoReceipt as exc:
            raise _fail(exc.reason, 1) from None
        except ReceiptKeyError as exc:
            raise _fail(str(exc)) from None
        text = Verifier(engine.settings, ring).code(issued.code).text
    if as_json:
        sys.stdout.write(json.dumps({**issued.as_json(), "text": text}, ensure_ascii=False) + "\n")
        return
    out.print(text, highlight=False)
    out.print(f"code ({len(issued.code)} characters): {issued.code}", highlight=False)
    out.print(f"for a QR code: <your public URL>/verify?c={issued.code}", highlight=False)


@receipts_app.command("verify")
def verify(
    code: str,
    payee: str | None = typer.Option(None, "--payee", help="your account, card, phone or merchant id: "
                                     "checks the money went to you"),
    as_json: bool = typer.Option(False, "--json", help="print the verdict as JSON"),
) -> None:
    """Is a receipt code genuine? Exit status 0: genuine (and to you, with --payee); 1: not.

    Example: qalqan receipts verify TIA4IBDL… --payee M-100245
    """
    import msgspec

    from ..cli_common import settings as _settings
    from .issue import Verifier
    from .keys import ReceiptKeyError

    try:
        verdict = Verifier(_settings()).code(code, payee)
    except ReceiptKeyError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        sys.stdout.write(msgspec.json.encode(verdict).decode() + "\n")
    else:
        colour = "green" if verdict.genuine and verdict.to_you is not False else "red"
        out.print(f"[{colour}]{escape(verdict.text)}[/{colour}]", highlight=False)
    if not verdict.genuine or verdict.to_you is False:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(receipts_app, name="receipts")
