"""CLI commands of the models part (registered by qalqan.cli): ``evaluate``, ``train`` and
``models list`` / ``models promote``.

Thin shells over models/evaluate.py, models/train.py and models/bundle.py. The libraries (polars,
LightGBM, scikit-learn) are imported inside the commands: every other ``qalqan`` command starts without it.
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


def train(
    stream: Path = typer.Option(..., "--stream", help="a labelled JSON Lines stream (e.g. from `qalqan simulate`)"),
    label_delay: str = typer.Option("7d", "--label-delay", help="train on movements up to the stream's end minus "
                                    "this (their labels have had that long to arrive): 7d, 12h, 0"),
    name: str = typer.Option("gbm", "--name", help="the bundle's name (a hash is appended)"),
    rounds: int = typer.Option(300, "--rounds", help="boosting rounds"),
) -> None:
    """Train a LightGBM model on the engine's own features and write a bundle to $QALQAN_HOME/models.

    Example: qalqan train --stream events.jsonl --label-delay 7d --name gbm && qalqan models promote gbm-<hash>
    """
    from ..config import ConfigError, from_env
    from .bundle import BundleError
    from .train import TrainError
    from .train import train as run

    if not stream.is_file():
        err.print(f"[red]error:[/red] --stream {escape(str(stream))}: no such file", highlight=False)
        raise typer.Exit(2)
    try:
        path = run(stream, from_env(), name, label_delay, rounds,
                   say=lambda m: err.print(f"[dim]{escape(m)}[/dim]", highlight=False))
    except (TrainError, BundleError, ConfigError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    manifest = json.loads((path / "manifest.json").read_text())
    m = manifest["metrics"]
    out.print(f"bundle [bold]{escape(path.name)}[/bold]: {manifest['rows']['train']} movements, "
              f"{manifest['rows']['fraud']} fraud; held-out AUC {m.get('auc_roc', '-')}, AP {m.get('ap', '-')}")
    out.print(f"serve it: qalqan models promote {escape(path.name)}", highlight=False)


models_app = typer.Typer(help="Model bundles in $QALQAN_HOME/models: list, promote.", no_args_is_help=True)


@models_app.command("list")
def list_models(as_json: bool = typer.Option(False, "--json", help="print a JSON list")) -> None:
    """The bundles, oldest first; the live one is marked."""
    from ..config import from_env
    from .bundle import listing

    rows = listing(from_env().home)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        out.print("no model bundles (train one: qalqan train --stream FILE.jsonl)")
        return
    t = Table()
    for col in ("", "name", "created", "rows", "AUC", "AP", "features"):
        t.add_column(col)
    for r in rows:
        t.add_row("live" if r["live"] else "", r["name"], r["created"] or "-", str(r["rows"] or "-"),
                  str(r["metrics"].get("auc_roc", "-")), str(r["metrics"].get("ap", "-")), r["features_version"] or "-")
    out.print(t)


@models_app.command("promote")
def promote(name: str = typer.Argument(..., help="a bundle's folder name, as `qalqan models list` shows")) -> None:
    """Make NAME the live model (verified first; the engine loads it on its next start)."""
    from ..config import from_env
    from ..features import definitions
    from .bundle import BundleError
    from .bundle import promote as run

    try:
        run(from_env().home, name, definitions.load().version)
    except BundleError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    out.print(f"live model: {escape(name)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("train")(train)
    app.add_typer(models_app, name="models")
