"""CLI commands of the reports part (registered by qalqan.cli): ``contract`` and ``report``.

A thin shell: parse options, call the library, print. Errors the user can fix (a bad date, an
unknown template, a record that cannot be opened) are one red line and exit status 2. The library
(polars and all) is imported inside the commands: every other ``qalqan`` command starts without it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .. import config
from ..store import StoreError, open_record
from .periods import PERIODS, PeriodError, parse_date

if TYPE_CHECKING:
    from ..store import Record
    from .contracts import Contract, Settlement
    from .facts import Facts

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
_FORMATS = ("html", "json", "csv", "console")


def _fail(msg: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {escape(msg)}", highlight=False)
    return typer.Exit(2)


@contextmanager
def _errors() -> Iterator[None]:
    from .facts import ReportError
    from .formula import FormulaError

    try:
        yield
    except (ReportError, PeriodError, StoreError, config.ConfigError, FormulaError) as exc:
        raise _fail(str(exc)) from None


@contextmanager
def _record(db: str | None) -> Iterator[tuple[Record, config.Settings]]:
    settings = config.from_env(db_url=db)
    record = open_record(settings.db_url)
    try:
        yield record, settings
    finally:
        record.close()


def _window(start: str | None, end: str | None, as_of: str | None) -> tuple[date, date, date | None]:
    if not start or not end:
        raise PeriodError("--from and --to are both needed (YYYY-MM-DD, UTC days, both included)")
    return parse_date(start, "--from"), parse_date(end, "--to"), parse_date(as_of, "--as-of") if as_of else None


def _facts(db: str | None, start: str | None, end: str | None, as_of: str | None,
           currency: str) -> tuple[Facts, dict[str, str]]:
    from .facts import read_facts

    first, last, as_of_day = _window(start, end, as_of)
    with _record(db) as (record, settings):
        return read_facts(record, first, last, currency, settings.fx, as_of_day), settings.fx


def contract(
    template: str | None = typer.Option(None, "--template", "-t",
                                        help="a shipped template (see --list) or the path of a contract file"),
    volume: str | None = typer.Option(None, help="the period's volume (money, or a count for count-based contracts)"),
    fraud: str | None = typer.Option(None, help="the fraud in that volume, same unit"),
    start: str | None = typer.Option(None, "--from", help="settle from the record: first day (YYYY-MM-DD)"),
    end: str | None = typer.Option(None, "--to", help="last day, included"),
    as_of: str | None = typer.Option(None, "--as-of", help="labels known on this day (default: all in the record)"),
    merchant: str | None = typer.Option(None, help="only this merchant's payments (record mode)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON (money as decimal strings)"),
    list_templates: bool = typer.Option(False, "--list", help="list the shipped templates"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Penalty, bonus or commission under a contract: for given figures, or per period from the record."""
    from .contracts import load_contract, settle_facts, template_names

    with _errors():
        if list_templates:
            for name in template_names():
                c = load_contract(name)
                out.print(f"{name:<22} {c.title}", highlight=False)
            return
        if not template:
            raise _fail("--template NAME is needed (or --list)")
        c = load_contract(template)
        if volume is not None:
            _contract_figures(c, volume, fraud, as_json)
        elif start or end:
            facts, fx = _facts(db, start, end, as_of, c.currency)
            _contract_record(c, settle_facts(c, facts, fx, merchant), facts, merchant, as_json)
        else:
            raise _fail("give --volume and --fraud, or --from and --to to settle from the record")


def _contract_figures(c: Contract, volume: str, fraud: str | None, as_json: bool) -> None:
    from .contracts import settle
    from .figures import fmt_amount, fmt_pct
    from .formula import parse_decimal

    if fraud is None and c.tiers_on == "share":
        raise _fail(f"--fraud is needed: {c.name} is tiered by the fraud share")
    s = settle(c, parse_decimal(volume, "--volume"), parse_decimal(fraud or "0", "--fraud"))
    if as_json:
        sys.stdout.write(json.dumps(s.to_json()) + "\n")
        return
    out.print(f"[bold]{c.name}[/bold]: {c.title}")
    out.print(f"volume {fmt_amount(s.volume)}, fraud {fmt_amount(s.fraud)} → fraud share "
              f"{fmt_pct(float(s.fraud_share), 3)}; tier {s.tier + 1} of {len(c.tiers)}", highlight=False)
    for amount in c.amounts:
        formula = c.tiers[s.tier].text.get(amount)
        value = s.amounts[amount]
        who = c.pays.get(amount, "")
        line = f"{amount:<10} {fmt_amount(value):>16} {c.currency}" + (f"  ({who})" if who and value else "")
        out.print(line + (f"  = {formula}" if formula else ""), highlight=False)


def _contract_record(c: Contract, settlements: list[Settlement], facts: Facts, merchant: str | None,
                     as_json: bool) -> None:
    from .figures import fmt_amount, fmt_pct

    if as_json:
        doc = {"template": c.name, "currency": c.currency, "as_of": facts.as_of.isoformat(), "merchant": merchant,
               "periods": [s.to_json() for s in settlements]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    t = Table(title=f"{c.name}: {c.title} — labels as of {facts.as_of}"
              + (f", merchant {merchant}" if merchant else ""))
    for col in ("period", "days", "volume", "fraud", "share", *c.amounts):
        t.add_column(col, justify="left" if col == "period" else "right")
    for s in settlements:
        unit = fmt_amount if c.basis == "value" else (lambda d: f"{Decimal(d):,}")
        days = (date.fromisoformat(s.end) - date.fromisoformat(s.start)).days + 1
        t.add_row(s.period + (" *" if s.partial else ""), str(days), unit(s.volume), unit(s.fraud),
                  fmt_pct(float(s.fraud_share), 3), *[fmt_amount(s.amounts[a]) for a in c.amounts])
    out.print(t)
    if any(s.partial for s in settlements):
        out.print("* the window covers only part of the period: only its days are counted")


def report(
    start: str | None = typer.Option(None, "--from", help="first day (YYYY-MM-DD, UTC)"),
    end: str | None = typer.Option(None, "--to", help="last day, included"),
    fmt: str = typer.Option("html", "--format", "-f", help="html | json | csv | console"),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="file (html, json) or folder (csv); json without it goes to stdout"),
    as_of: str | None = typer.Option(None, "--as-of", help="labels known on this day (default: all in the record)"),
    currency: str = typer.Option("RUB", help="reporting currency (converted with the configured rates)"),
    period: str = typer.Option("month", help="rate periods: day | week | month | quarter"),
    contracts: list[str] | None = typer.Option(None, "--contract",
                                               help="template or contract file (repeat; default: every template)"),
    merchant: str | None = typer.Option(None, help="settle the contracts for this merchant only"),
    programmes: Path | None = typer.Option(None, help="programme thresholds file (default: the shipped one)"),
    db: str | None = typer.Option(None, help="record URL (default: QALQAN_DB or the embedded SQLite)"),
) -> None:
    """Fraud rates, contracts, card-scheme programmes and PSD2, with charts: HTML, JSON, CSV or console."""
    from .console import render_console
    from .html import render_html
    from .programmes import load_programmes
    from .report import build_report, write_csv, write_json

    with _errors():
        if fmt not in _FORMATS:
            raise _fail(f"--format {fmt!r}: use one of {', '.join(_FORMATS)}")
        if period not in PERIODS:
            raise _fail(f"--period {period!r}: use one of {', '.join(PERIODS)}")
        facts, fx = _facts(db, start, end, as_of, currency)
        cfg = load_programmes(programmes) if programmes else None
        rep = build_report(facts, fx, period, contracts or None, cfg, merchant)  # type: ignore[arg-type]
        stem = f"qalqan-report-{facts.start}-{facts.end}"
        if fmt == "json":
            data = write_json(rep)
            if output is None:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
                return
            output.write_bytes(data)
            out.print(f"wrote {output}")
            return
        render_console(rep, out)
        if fmt == "html":
            path = output or Path(f"{stem}.html")
            path.write_text(render_html(rep), encoding="utf-8")
            out.print(f"wrote {path}")
        elif fmt == "csv":
            folder = output or Path(stem)
            files = write_csv(rep, folder)
            out.print(f"wrote {len(files)} tables to {folder}/: {', '.join(p.name for p in files)}")


def register(app: typer.Typer) -> None:
    """Adds `contract` and `report` to the qalqan command."""
    app.command("contract")(contract)
    app.command("report")(report)


__all__ = ["register"]
