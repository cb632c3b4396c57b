"""CLI command of the models part (registered by qalqan.cli): ``evaluate``.

A thin shell over models/evaluate.py. The library (polars, LightGBM, scikit-learn) is imported
inside the command: every other ``qalqan`` command starts without it.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def evaluate(
    dataset: str = typer.Option("fdh", "--dataset",
                                help="the public data set (only fdh: the Fraud Detection Handbook)"),
    protocol: str = typer.Option("handbook-ch3", "--protocol",
                                 help="handbook-ch3 (one split), handbook-ch5 (4 test folds) or "
                                 "handbook-ch5-validation"),
    data: Path | None = typer.Option(None, "--data", help="a parquet file of the handbook's columns "
                                     "(default: ../shared/data/fdh/transactions.parquet)"),
    train_start: str | None = typer.Option(None, "--train-start", help="first training day of the first fold "
                                           "(YYYY-MM-DD); later folds keep their weekly spacing"),
    as_json: bool = typer.Option(False, "--json", help='print {"folds": [...], "mean": {model: metrics}}'),
) -> None:
    """Reproduce the handbook's protocol with qalqan's features and models: AUC ROC, AP, CP@100.

    Example: qalqan evaluate --dataset fdh --protocol handbook-ch5 --json
    """
    from .evaluate import evaluate as run
    from .evaluate import table
    from .fdh import DataError
    from .protocol import ProtocolError

    if dataset != "fdh":
        err.print(f"[red]error:[/red] unknown dataset {escape(dataset)!r}; known: fdh", highlight=False)
        raise typer.Exit(2)
    try:
        start = date.fromisoformat(train_start) if train_start else None
    except ValueError:
        err.print(f"[red]error:[/red] --train-start {escape(train_start or '')!r} is not a date (YYYY-MM-DD)",
                  highlight=False)
        raise typer.Exit(2) from None
    try:
        report = run(protocol, data, start)
    except (DataError, ProtocolError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report))
        return
    t = Table(title=f"{protocol}: mean over {len(report['folds'])} test fold(s); the handbook's published table below")
    for col in ("model", "AUC ROC", "AP", "CP@100"):
        t.add_column(col)
    for r in table(report):
        t.add_row(*r)
    out.print(t)
    out.print(f"features {report['seconds']['features']:.1f} s, total {report['seconds']['total']:.1f} s")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
