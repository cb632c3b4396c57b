"""The ``qalqan`` command: a thin shell over the library. No decision logic lives here."""

from __future__ import annotations

import gc
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .cli_common import engine, err, out, settings
from .events import json_schema

app = typer.Typer(add_completion=False, no_args_is_help=True, help="qalqan: real-time anti-fraud engine.")
# The shared helpers live in cli_common (the command groups import them from there, not from here).
_settings, _engine = settings, engine


def _tune_gc() -> None:
    """The feature state is millions of small long-lived objects without cycles; the default
    collector would rescan them all in full collections (tens of ms, in the middle of requests).
    Collect young objects rarely and old ones almost never."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 1000)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(buf.count(b"\n") for buf in iter(lambda: f.read(1 << 20), b""))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the event contract and of the decision."""
    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command()
def simulate(
    customers: int = typer.Option(1000, help="number of bank clients"),
    days: int = typer.Option(30, help="days of traffic"),
    seed: int = typer.Option(1, help="same seed, same bytes"),
    output: Path = typer.Option(..., "-o", "--output", help="JSON Lines file to write"),
) -> None:
    """Write a realistic labelled stream of events (ordinary life and every fraud scenario)."""
    from .sim import simulate as run_sim

    stats = run_sim(customers, days, seed, output)
    out.print(f"wrote {stats.events:,} events to {output} in {stats.seconds:.1f} s "
              f"({stats.events / max(stats.seconds, 1e-9):,.0f} events/s)")
    table = Table("scenario", "fraud money movements")
    for name, n in sorted(stats.fraud_by_scenario.items()):
        table.add_row(name, f"{n:,}")
    out.print(table)


@app.command()
def replay(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON Lines file of events"),
    output: Path | None = typer.Option(None, "-o", "--output", help="write decisions here (JSON Lines)"),
    fresh: bool = typer.Option(False, "--fresh", help="decide into an empty temporary store"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Decide every event of a file through the one decision path."""
    from .replay import replay as run_replay

    tmp = tempfile.mkdtemp(prefix="qalqan-") if fresh else None
    if tmp:
        db = db or f"sqlite:///{tmp}/qalqan.db"
    try:
        total = _count_lines(source)
        with _engine(db, keep_state=tmp is None) as engine, _progress() as progress:
            _tune_gc()
            task = progress.add_task("deciding", total=total)
            sink = open(output, "wb") if output else None
            try:
                stats = run_replay(engine, source, sink, progress=lambda n: progress.advance(task, n))
            finally:
                if sink:
                    sink.close()
            url = engine.record.url
        for e in stats.errors[:20]:
            err.print(f"[yellow]rejected[/yellow] {e}")
        if len(stats.errors) > 20:
            err.print(f"… and {len(stats.errors) - 20} more rejected lines")
        out.print(f"decided {stats.decisions:,} money movements and folded {stats.events - stats.decisions:,} "
                  f"context events in {stats.seconds:.1f} s ({stats.per_second:,.0f} events/s); "
                  f"{len(stats.errors)} rejected, {stats.duplicates} duplicates")
        out.print("actions: " + ", ".join(f"{a} {n:,}" for a, n in stats.actions.most_common()))
        out.print(f"record: {url}" + (f"; decisions: {output}" if output else ""))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@app.command()
def decisions(
    export: Path = typer.Option(..., "--export", help="write every decision here, sorted by event id"),
    db: str | None = typer.Option(None, help="record URL"),
) -> None:
    """Export every decision in the record, one JSON a line."""
    n = 0
    with _engine(db) as engine, open(export, "wb") as f:
        for _, decision in engine.record.decisions():
            f.write(decision + b"\n")
            n += 1
    out.print(f"wrote {n:,} decisions to {export}")


@app.command()
def labels(
    export: Path = typer.Option(..., "--export", help="write the organisation's label events here (JSONL)"),
    org: str = typer.Option("default", help="whose labels"),
    db: str | None = typer.Option(None, help="record URL"),
) -> None:
    """Export the labels given over the API and by case decisions, as `label` events: append them
    to the events file that `qalqan train` reads."""
    from .labels import export_jsonl

    with _engine(db) as engine, open(export, "wb") as f:
        n = export_jsonl(engine, f, org)
    out.print(f"wrote {n:,} labels to {export}")


@app.command()
def backtest(
    source: Path = typer.Argument(..., exists=True, dir_okay=False, help="labelled JSON Lines stream"),
    rules: Path = typer.Option(..., "--rules", exists=True, file_okay=False, help="folder of candidate packs"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
) -> None:
    """Run a candidate rule set in shadow beside the live one, through the same decision path."""
    from .backtest import run
    from .rules.ruleset import RuleError

    try:
        bt = run(_settings(), rules, source)
    except RuleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        sys.stdout.write(json.dumps(bt.as_dict(), indent=2) + "\n")
        return
    doc = bt.as_dict()
    for side in ("live", "candidate"):
        t = Table(title=f"{side} rules over {bt.days:.1f} days, {bt.money_movements:,} money movements, "
                        f"{bt.frauds:,} labelled frauds")
        for col in ("rule", "hits", "precision", "recall", "alerts/day"):
            t.add_column(col, justify="left" if col == "rule" else "right")
        for r in doc[side]:  # type: ignore[union-attr]
            t.add_row(r["code"], f"{r['hits']:,}", f"{r['precision']:.1%}", f"{r['recall']:.1%}",
                      f"{r['alerts_per_day']:.1f}")
        out.print(t)
    out.print(f"alerts: live {bt.live_alerts:,}, candidate {bt.candidate_alerts:,} "
              f"({bt.candidate_alerts - bt.live_alerts:+,})")
    out.print(f"frauds caught: live {bt.live_caught:,}, candidate {bt.candidate_caught:,}; "
              f"only the candidate catches {bt.only_candidate_caught:,}, only the live set {bt.only_live_caught:,}")


rules_app = typer.Typer(help="Rule packs: run the examples written beside the rules.")
app.add_typer(rules_app, name="rules")


@rules_app.command("test")
def rules_test(rules: Path | None = typer.Option(None, "--rules", help="folder of packs (default: built-in)")) -> None:
    """Run every rule's `tests:` examples through the decision path; exit 1 if one fails."""
    from .rules.examples import run_examples
    from .rules.ruleset import RuleError

    try:
        results = run_examples(_settings(), rules)
    except RuleError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for r in results:
        mark = "[green]ok[/green]  " if r.ok else "[red]FAIL[/red]"
        out.print(f"{mark} {r.rule}: {r.name} (expected {r.expect}, got {r.got})")
    failed = sum(not r.ok for r in results)
    out.print(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise typer.Exit(1)


keys_app = typer.Typer(help="API keys with roles (stored hashed in QALQAN_HOME).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="integrator, merchant, analyst, auditor or admin"),
    org: str = typer.Option(..., help="the organisation the key belongs to"),
    name: str = typer.Option("", help="a label for people"),
    merchant: str | None = typer.Option(None, help="merchant keys: the merchant_id of the payments it decides"),
) -> None:
    """Make a key; it is printed once and stored only as its hash."""
    from .api.keys import KeyRing

    try:
        key, secret = KeyRing.load(_settings().home).create(role, org, name, merchant)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"key {key.id} ({key.role}, {key.org}): {secret}")
    out.print("store it now: it cannot be shown again")
    _audit_key(key.org, "key.create", key.id, f"{key.role} {key.name}".strip())


@keys_app.command("list")
def keys_list() -> None:
    """The keys: id, role, organisation, whether revoked (never the key itself)."""
    from .api.keys import KeyRing

    for k in KeyRing.load(_settings().home).keys.values():
        out.print(f"{k.id}  {k.role:10s} {k.org:16s} {'revoked' if k.revoked else 'active'}  {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id."""
    from .api.keys import KeyRing

    ring = KeyRing.load(_settings().home)
    if not ring.revoke(key_id):
        err.print(f"[red]error:[/red] no active key {key_id!r}")
        raise typer.Exit(1)
    out.print(f"revoked {key_id}")
    org = next(k.org for k in ring.keys.values() if k.id == key_id)
    _audit_key(org, "key.revoke", key_id)


@keys_app.command("role")
def keys_role(
    key_id: str,
    role: str,
    merchant: str | None = typer.Option(None, help="merchant keys: the merchant_id of the payments it decides"),
) -> None:
    """Give an active key another role (running servers take it within a second)."""
    from .api.keys import KeyRing

    ring = KeyRing.load(_settings().home)
    before = next((k.role for k in ring.keys.values() if k.id == key_id and not k.revoked), None)
    try:
        key = ring.set_role(key_id, role, merchant)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if key is None:
        err.print(f"[red]error:[/red] no active key {key_id!r}")
        raise typer.Exit(1)
    out.print(f"key {key.id} ({key.org}): {before} -> {key.role}")
    _audit_key(key.org, "key.role", key.id, f"{before} -> {key.role}")


def _audit_key(org: str, action: str, key_id: str, detail: str = "") -> None:
    """Key changes are people's changes: they go to the audit log (a record that does not answer
    is reported, the key change stands)."""
    from .audit import Actor, log_once
    from .store import StoreError

    who = os.environ.get("USER") or os.environ.get("LOGNAME") or "unknown"
    try:
        log_once(_settings().db_url, Actor(id=f"cli:{who}", role="admin", org=org), action, f"key:{key_id}", detail)
    except (StoreError, OSError) as exc:
        err.print(f"[yellow]warning:[/yellow] the audit log was not written: {exc}")


hold_app = typer.Typer(help="Suspended transfers (161-FZ art. 8): show, confirm, reject, repeat.")
app.add_typer(hold_app, name="hold")


def _hold_json(engine: Engine, event_id: str) -> None:  # noqa: F821
    import msgspec

    from .store.base import DEFAULT_ORG

    h = engine.holds.of(event_id, DEFAULT_ORG)
    if h is None:
        err.print(f"[red]error:[/red] no hold on event {event_id!r}")
        raise typer.Exit(1)
    sys.stdout.write(msgspec.json.encode(h).decode() + "\n")


@hold_app.command("show")
def hold_show(event_id: str, db: str | None = typer.Option(None, help="record URL")) -> None:
    """Print a hold's state and history."""
    with _engine(db) as engine:
        _hold_json(engine, event_id)


def _hold_act(event_id: str, verb: str, by: str, ts: str | None, db: str | None) -> None:
    from .events import EventError

    with _engine(db) as engine:
        try:
            if verb == "repeat":
                engine.repeat_hold(event_id, ts)
            else:
                engine.answer_hold(event_id, verb, by, ts)
        except EventError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        engine.commit()
        _hold_json(engine, event_id)


_BY = typer.Option("client", help="client or trusted_person")
_TS = typer.Option(None, help="event time of the answer (RFC 3339); default now")


@hold_app.command("confirm")
def hold_confirm(event_id: str, by: str = _BY, ts: str | None = _TS, db: str | None = None) -> None:
    """The client (or the trusted person) confirms a suspended transfer."""
    _hold_act(event_id, "confirm", by, ts, db)


@hold_app.command("reject")
def hold_reject(event_id: str, by: str = _BY, ts: str | None = _TS, db: str | None = None) -> None:
    """The client (or the trusted person) rejects a suspended transfer."""
    _hold_act(event_id, "reject", by, ts, db)


@hold_app.command("repeat")
def hold_repeat(event_id: str, ts: str | None = _TS, db: str | None = None) -> None:
    """The client repeats the suspended order with the same details (confirms it)."""
    _hold_act(event_id, "repeat", "client", ts, db)


@app.command()
def outbox(after: int = typer.Option(0, help="only notices after this id"), db: str | None = None) -> None:
    """Print the notices for clients (holds started, confirmed, rejected …), one JSON a line."""
    from .events import us_to_rfc3339

    with _engine(db) as engine:
        for r in engine.record.outbox(after, limit=100_000):
            sys.stdout.write(json.dumps({"id": r[0], "ts": us_to_rfc3339(r[1]), "customer_id": r[2],
                                         "event_id": r[3], "kind": r[4], "text": r[5]}, ensure_ascii=False) + "\n")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    db: str | None = typer.Option(None, help="record URL"),
    nats_url: str | None = typer.Option(None, "--nats", help="scaled set-up: a stateless front that publishes "
                                        "events to this NATS JetStream and answers with the workers' decisions"),
    stream: str = typer.Option("QALQAN", "--stream", help="with --nats: the JetStream stream name"),
    partitions: int = typer.Option(1, "--partitions", min=1, max=1024, help="with --nats: the workers' N"),
    answer_timeout: float = typer.Option(5.0, "--answer-timeout", min=0.1, help="with --nats: seconds to wait "
                                         "for a decision before 503 (the event is kept and decided)"),
) -> None:
    """Serve the HTTP API (POST /v1/events); with --nats, one of several fronts of the workers (docs/scaling.md)."""
    import uvicorn

    from .api import create_app
    from .api.keys import KeyRing
    from .engine import Engine

    settings = _settings(db)
    auth = os.environ.get("QALQAN_AUTH", "on" if settings.production else "off").lower()
    if auth not in ("on", "off"):
        err.print("[red]error:[/red] QALQAN_AUTH: must be on or off")
        raise typer.Exit(2)
    keys = KeyRing.load(settings.home) if auth == "on" else None
    if keys is not None and not keys.keys:
        err.print("[red]error:[/red] QALQAN_AUTH=on but no API key exists: make one with `qalqan keys create`")
        raise typer.Exit(2)
    if nats_url is not None:
        from .stream.front import FrontConfig, serve_front

        serve_front(settings, FrontConfig(nats_url, stream, partitions, answer_timeout), host, port, keys, err.print)
        return
    engine = Engine(settings)
    _tune_gc()
    err.print(f"qalqan serving on http://{host}:{port} (record: {engine.record.url})")
    # A SIGTERM ends the server within seconds whatever its backends do: requests in flight are
    # bounded by the record's budget, and the graceful wait by this.
    uvicorn.run(create_app(engine, keys), host=host, port=port, log_level="warning", access_log=False,
                loop="uvloop", http="httptools", timeout_graceful_shutdown=10)


@app.command()
def demo(
    customers: int = typer.Option(1000),
    days: int = typer.Option(30),
    seed: int = typer.Option(7),
    keep: Path | None = typer.Option(None, help="keep the stream and decisions in this folder"),
) -> None:
    """Simulate traffic, decide it, and show what was caught and what it cost honest clients."""
    from .engine import Engine
    from .replay import replay as run_replay
    from .scoreboard import score_record
    from .sim import simulate as run_sim

    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="qalqan-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    stream, decided = folder / "events.jsonl", folder / "decisions.jsonl"
    db_path = folder / "demo.db"
    for p in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        p.unlink(missing_ok=True)
    sim = run_sim(customers, days, seed, stream)
    out.print(f"[bold]1. simulated[/bold] {sim.events:,} events ({customers:,} clients × {days} days) "
              f"in {sim.seconds:.1f} s")
    settings = _settings(f"sqlite:///{db_path}", home=os.environ.get("QALQAN_HOME"))
    engine = Engine(settings)
    try:
        with _progress() as progress, open(decided, "wb") as sink:
            task = progress.add_task("deciding", total=sim.events)
            stats = run_replay(engine, stream, sink, progress=lambda n: progress.advance(task, n))
        out.print(f"[bold]2. decided[/bold] {stats.decisions:,} money movements, folded "
                  f"{stats.events - stats.decisions:,} context events in {stats.seconds:.1f} s "
                  f"({stats.per_second:,.0f} events/s, durable in SQLite)")
        board = score_record(engine.record)
    finally:
        engine.close()

    t = Table(title="decisions by action")
    t.add_column("action")
    t.add_column("all", justify="right")
    t.add_column("legitimate", justify="right")
    for a in ("approve", "challenge", "review", "hold", "decline"):
        t.add_row(a, f"{board.actions[a]:,}", f"{board.legit_by_action[a]:,}")
    out.print(t)
    s = Table(title="fraud caught per scenario (caught = not approved)")
    for col in ("scenario", "caught", "missed", "rate"):
        s.add_column(col, justify="left" if col == "scenario" else "right")
    for name in board.scenarios:
        c, m = board.caught[name], board.missed[name]
        s.add_row(name, str(c), str(m), f"{c / (c + m):.0%}")
    tc, tm = sum(board.caught.values()), sum(board.missed.values())
    s.add_row("[bold]all[/bold]", str(tc), str(tm), f"{tc / max(tc + tm, 1):.0%}")
    out.print(s)
    out.print(f"legitimate money movements not approved: {board.legit_not_approved:,} of "
              f"{board.legit_total:,} ({board.friction:.2%})")
    out.print(f"[bold]look here:[/bold] stream {stream}, decisions {decided}, record {db_path}")


# Commands of other parts register themselves here, each from its own package.
from .models.commands import register as _register_models  # noqa: E402
from .reports.commands import register as _register_reports  # noqa: E402

_register_models(app)
_register_reports(app)
from .console.commands import register as _register_console  # noqa: E402

_register_console(app)
from .receipts.commands import register as _register_receipts  # noqa: E402

_register_receipts(app)
from .stream.commands import register as _register_stream  # noqa: E402

_register_stream(app)
from .intel.commands import register as _register_intel  # noqa: E402

_register_intel(app)
