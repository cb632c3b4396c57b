"""CLI commands of the intel exchange (registered by qalqan.cli): ``intel keygen``, ``intel export``,
``intel import``, ``intel trust add|revoke|list``, ``intel imports``. Thin shells over intel/."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from ..cli_common import engine as _engine
from ..cli_common import err, out
from ..cli_common import settings as _settings
from . import feed as feeds

intel_app = typer.Typer(help="Intel exchange between banks: signed feeds of consortium tokens (docs/intel.md).")
trust_app = typer.Typer(
    help="The members whose feeds this bank takes: their public keys, in QALQAN_HOME/intel/trusted.json.")
intel_app.add_typer(trust_app, name="trust")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    return typer.Exit(code)


@intel_app.command("keygen")
def keygen(name: str, force: bool = typer.Option(False, help="replace this bank's key pair")) -> None:
    """Make this bank's member key pair (Ed25519) and print the public key for the other members.

    Example: qalqan intel keygen bank-a
    """
    try:
        m = feeds.keygen(_settings().home, name, force)
    except feeds.FeedError as exc:
        raise _fail(str(exc)) from None
    out.print(f"member {m.name}; public key (give it to the other members: qalqan intel trust add {m.name} KEY):")
    out.print(m.public, highlight=False)


@intel_app.command("export")
def export(
    output: Path = typer.Option(..., "-o", "--output", help="the feed file to write"),
    since: str | None = typer.Option(None, help="RFC 3339: only indicators changed at or after this"),
    ttl_days: int = typer.Option(180, help="how long members keep an indicator after it was last seen"),
    withdraw: list[str] = typer.Option([], help="KIND:VALUE withdrawn (a false positive); repeatable; "
                                                 "the value is tokenised in memory, never written"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Write a signed feed of this bank's confirmed-fraud indicators (consortium tokens only).

    Example: qalqan intel export --since 2026-02-01T00:00:00Z -o feed.json
    """
    from .exchange import export as _export

    pairs = []
    for w in withdraw:
        kind, sep, value = w.partition(":")
        if not sep or not value:
            raise _fail("--withdraw: expected KIND:VALUE (e.g. account:40817810…)")
        pairs.append((kind, value))
    if not 0 < ttl_days <= 3650:
        raise _fail("--ttl-days: above 0, at most 3650")
    try:
        member = feeds.load_member(_settings(db).home)
        with _engine(db) as e:
            doc, counts = _export(e, member, since, ttl_days * 86_400, pairs)
    except (feeds.FeedError, ValueError) as exc:
        raise _fail(str(exc)) from None
    output.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    out.print(f"{counts['entries']} entries signed by {member.name} → {escape(str(output))} "
              f"({counts['labels']} fraud labels, {counts['list_entries']} deny-list changes, "
              f"{counts['without_token']} without a consortium token)")


@intel_app.command("import")
def import_(
    feed: Path,
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Take a member's signed feed into the consortium list (refused: unknown or revoked signer,
    a broken signature, a feed older than one already taken).

    Example: qalqan intel import feed.json
    """
    from .exchange import import_feed

    try:
        data = feed.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {feed}: {exc}") from None
    try:
        with _engine(db) as e:
            rec = import_feed(e, _settings(db).home, data, str(feed))
    except (feeds.FeedError, ValueError) as exc:
        raise _fail(str(exc), 1) from None
    again = " (imported before: nothing changed)" if rec.get("again") else ""
    out.print(f"feed {rec['feed_id']} of {rec['member']} (key {rec['key']}){again}: {rec['added']} listed, "
              f"{rec['withdrawn']} withdrawn, {rec['ignored']} ignored", highlight=False)


@intel_app.command("imports")
def imports() -> None:
    """The feeds taken: which, from whom (the key), issued and imported when, what each changed."""
    for r in feeds.imports(_settings().home):
        out.print(json.dumps(r, sort_keys=True), highlight=False)


@trust_app.command("add")
def trust_add(name: str, public_key: str) -> None:
    """Trust a member's public key (from its `qalqan intel keygen`): its feeds are taken from now on.

    Example: qalqan intel trust add bank-a 3b6a27bc…
    """
    try:
        feeds.trust_add(_settings().home, name, public_key)
    except feeds.FeedError as exc:
        raise _fail(str(exc)) from None
    out.print(f"trusted {name} (key {feeds.fingerprint(public_key)})")


@trust_app.command("revoke")
def trust_revoke(
    name: str, reason: str = typer.Option(..., help="why: shown when one of its feeds is refused"),
    delist: bool = typer.Option(False, help="also end every listing of this member (what others listed stays)"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Stop taking a member's feeds (a member that left, or whose key leaked).

    Example: qalqan intel trust revoke bank-c --reason "key leaked" --delist
    """
    try:
        feeds.trust_revoke(_settings(db).home, name, reason)
    except feeds.FeedError as exc:
        raise _fail(str(exc), 1) from None
    out.print(f"revoked {name}: {escape(reason)}")
    if delist:
        from .exchange import delist_member

        with _engine(db) as e:
            n = delist_member(e, name)
        out.print(f"{n} listings of {name} ended")


@trust_app.command("list")
def trust_list() -> None:
    """The trusted members: name, key fingerprint, public key, added / revoked."""
    for name, m in sorted(feeds.trusted(_settings().home).items()):
        state = f"revoked {m['revoked']} ({m.get('reason', '')})" if m.get("revoked") else f"added {m['added']}"
        out.print(f"{name}  {feeds.fingerprint(m['public'])}  {m['public']}  {escape(state)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(intel_app, name="intel")
