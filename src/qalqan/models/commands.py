"""CLI commands of the models part (registered by qalqan.cli): ``evaluate``, ``train``, ``drift`` and
``models list`` / ``models promote`` / ``models card``.

Thin shells over models/evaluate.py, models/train.py, models/drift.py and models/bundle.py. The libraries (polars,
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


def _training() -> None:
    """Training and evaluation need scikit-learn, which the runtime install leaves out (serving never
    imports it): say how to get it instead of a traceback."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        err.print("[red]error:[/red] training and evaluation need the training extra: "
                  "pip install 'qalqan\\[train]' (`make test` installs it)")
        raise typer.Exit(2) from None


def evaluate(
    dataset: str = typer.Option("fdh", "--dataset",
                                help="fdh (the Fraud Detection Handbook's public data) or sim (qalqan's simulator: "
                                "rules vs model vs both per scenario)"),
    protocol: str = typer.Option("handbook-ch3", "--protocol",
                                 help="handbook-ch3 (one split), handbook-ch5 (4 test folds) or "
                                 "handbook-ch5-validation"),
    data: Path | None = typer.Option(None, "--data", help="a parquet file of the handbook's columns "
                                     "(default: ../shared/data/fdh/transactions.parquet)"),
    train_start: str | None = typer.Option(None, "--train-start", help="first training day of the first fold "
                                           "(YYYY-MM-DD); later folds keep their weekly spacing"),
    as_json: bool = typer.Option(False, "--json", help='print {"folds": [...], "mean": {model: metrics}}'),
    customers: int = typer.Option(1000, "--customers", help="sim: simulated bank clients"),
    days: int = typer.Option(30, "--days", help="sim: simulated days"),
    seed: int = typer.Option(7, "--seed", help="sim: the simulator's seed"),
    budget: float = typer.Option(0.01, "--budget", help="sim: alerts as a share of the test movements (0.01 = 1 %)"),
    train_days: int | None = typer.Option(None, "--train-days", help="sim: days the model learns from "
                                          "(default: the first 60 %); the rest is the test"),
    label_delay: str = typer.Option("7d", "--label-delay", help="sim: labels younger than this at the cut "
                                    "are not trained on"),
    stream: Path | None = typer.Option(None, "--stream", help="sim: a labelled stream to use instead of simulating"),
    models: str = typer.Option("gbm,scorecard,mlp,profile,ensemble", "--models",
                               help="sim: the models trained, as for `qalqan train` (default: the whole ensemble)"),
) -> None:
    """Reproduce the handbook's protocol with qalqan's features and models (AUC ROC, AP, CP@100), or,
    with --dataset sim, detection per fraud scenario at an alert budget: rules vs model vs both.

    Example: qalqan evaluate --dataset fdh --protocol handbook-ch5 --json
    Example: qalqan evaluate --dataset sim --customers 1000 --days 30 --seed 7
    """
    _training()
    from .evaluate import evaluate as run
    from .evaluate import table
    from .fdh import DataError
    from .protocol import ProtocolError

    if dataset == "sim":
        _evaluate_sim(customers, days, seed, budget, train_days, label_delay, stream, as_json, models)
        return
    if dataset != "fdh":
        err.print(f"[red]error:[/red] --dataset {escape(dataset)!r} is unknown; known: fdh, sim", highlight=False)
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


def _evaluate_sim(customers: int, days: int, seed: int, budget: float, train_days: int | None, label_delay: str,
                  stream: Path | None, as_json: bool, models: str) -> None:
    _training()
    from .bundle import BundleError
    from .scenarios import SIDES, SimEvalError, evaluate_sim, table
    from .train import TrainError

    if stream is not None and not stream.is_file():
        err.print(f"[red]error:[/red] --stream {escape(str(stream))}: no such file", highlight=False)
        raise typer.Exit(2)
    try:
        report = evaluate_sim(customers, days, seed, budget, train_days, label_delay, stream=stream,
                              say=lambda m: err.print(f"[dim]{escape(m)}[/dim]", highlight=False), models=models)
    except (SimEvalError, TrainError, BundleError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report))
        return
    t = Table(title=f"fraud alerted in the top {report['budget']:.1%} ({report['alerts']:,} of "
                    f"{report['test_movements']:,} movements after {report['cut']}): caught (detection)")
    for col in ("scenario", "frauds", *SIDES):
        t.add_column(col, justify="left" if col == "scenario" else "right")
    for r in table(report):
        t.add_row(*r)
    out.print(t)
    a = report["all"]
    m = report["model"]
    out.print("alerts used: " + ", ".join(f"{s} {a[s]['alerts']:,} (precision {a[s]['precision']:.0%})" for s in SIDES)
              + f"; model {m['bundle']} trained on {m['rows']['train']:,} movements ({m['rows']['fraud']} fraud) "
              f"up to {m['window']['to']}; {report['seconds']:.0f} s", highlight=False)


def train(
    stream: Path = typer.Option(..., "--stream", help="a labelled JSON Lines stream (e.g. from `qalqan simulate`)"),
    label_delay: str = typer.Option("7d", "--label-delay", help="train on movements up to the stream's end minus "
                                    "this (their labels have had that long to arrive): 7d, 12h, 0"),
    models: str = typer.Option("gbm,scorecard,mlp,profile,ensemble", "--models",
                               help="comma-separated: gbm, scorecard, mlp, profile, ensemble (several members "
                               "need ensemble); gbm alone writes a LightGBM bundle"),
    name: str | None = typer.Option(None, "--name", help="the bundle's name, a hash is appended "
                                    "(default: gbm for --models gbm, else ensemble)"),
    rounds: int = typer.Option(300, "--rounds", help="boosting rounds"),
) -> None:
    """Train the models on the engine's own features and write one bundle to $QALQAN_HOME/models.

    Example: qalqan train --stream events.jsonl --label-delay 7d && qalqan models promote ensemble-<hash>
    Example: qalqan train --stream events.jsonl --models gbm --name gbm
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    _training()
    from ..config import ConfigError, from_env
    from .bundle import BundleError
    from .train import TrainError, parse_models
    from .train import train as run

    if not stream.is_file():
        err.print(f"[red]error:[/red] --stream {escape(str(stream))}: no such file", highlight=False)
        raise typer.Exit(2)
    try:
        chosen = parse_models(models)
        with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err, transient=False) as bar:
            task = bar.add_task("reading the stream", total=None)

            def advance(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=escape(label))

            path = run(stream, from_env(), name or ("gbm" if chosen == ("gbm",) else "ensemble"), label_delay,
                       rounds, say=lambda m: bar.console.print(f"[dim]{escape(m)}[/dim]", highlight=False),
                       models=chosen, progress=advance)
    except (TrainError, BundleError, ConfigError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    manifest = json.loads((path / "manifest.json").read_text())
    m = manifest["metrics"]
    out.print(f"bundle [bold]{escape(path.name)}[/bold]: {manifest['rows']['train']} movements, "
              f"{manifest['rows']['fraud']} fraud; held-out AUC {m.get('auc_roc', '-')}, AP {m.get('ap', '-')}")
    if m.get("members"):
        t = Table(title=f"held out: the last {m['holdout_rows']} movements ({m['holdout_fraud']} fraud)")
        for col in ("model", "AUC ROC", "AP", "weight in the ensemble"):
            t.add_column(col, justify="left" if col == "model" else "right")
        weights = manifest.get("weights") or {}
        order = [*manifest.get("members", []), "ensemble"]
        for k, v in sorted(m["members"].items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99):
            w = weights.get(k)
            t.add_row(k, f"{v['auc_roc']:.4f}", f"{v['ap']:.4f}", "-" if w is None else f"{w:+.3f}")
        out.print(t)
    out.print(f"serve it: qalqan models promote {escape(path.name)}", highlight=False)


models_app = typer.Typer(help="Model bundles in $QALQAN_HOME/models: list, promote, card.", no_args_is_help=True)


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
    for col in ("", "name", "models", "created", "rows", "AUC", "AP", "features"):
        t.add_column(col, no_wrap=col in ("name", "created"))
    for r in rows:
        members = ",".join(r["members"]) if len(r["members"]) < 2 else "ensemble"
        t.add_row("live" if r["live"] else "", r["name"], members or "-",
                  (r["created"] or "-").replace("T", " ")[:16],
                  str(r["rows"] or "-"),
                  str(r["metrics"].get("auc_roc", "-")), str(r["metrics"].get("ap", "-")), r["features_version"] or "-")
    out.print(t)


@models_app.command("card")
def card(name: str | None = typer.Argument(None, help="a bundle's folder name (default: the LIVE one)"),
         as_json: bool = typer.Option(False, "--json", help="print the card as JSON")) -> None:
    """Print a bundle's scorecard: points per attribute (bin) of each input, and the base points.

    Example: qalqan models card ensemble-<hash>
    """
    from ..config import from_env
    from .bundle import BundleError, live_name, read
    from .frozen import FrozenScorecard
    from .live_ensemble import SCORECARD_FILE

    home = from_env().home
    name = name or live_name(home)
    if name is None:
        err.print("[red]error:[/red] NAME: no bundle is live; name one (see `qalqan models list`)", highlight=False)
        raise typer.Exit(2)
    try:
        b = read(home, name)
        if SCORECARD_FILE not in b.files:
            raise BundleError(f"bundle {name} holds no scorecard (members: {b.manifest.get('members') or ['gbm']}); "
                              "train one with --models including scorecard")
        sc = FrozenScorecard.from_json(json.loads(b.files[SCORECARD_FILE]))
    except (BundleError, ValueError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps({"bundle": name, **sc.to_json()}))
        return
    t = Table(title=f"scorecard of {name}: base {sc.base:+.0f} points; {sc.to_json()['pdo']:.0f} points double "
                    f"the odds; score = 1 / (1 + exp(-total / {sc.to_json()['scale']:.2f}))")
    for col in ("attribute", "bin", "points"):
        t.add_column(col, justify="right" if col == "points" else "left")
    last = None
    for attr, span, pts in sc.table():
        t.add_row(attr if attr != last else "", span, f"{pts:+.0f}", end_section=False)
        last = attr
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


def drift(
    stream: Path = typer.Option(..., "--stream", help="a JSON Lines stream covering both windows"),
    model: str | None = typer.Option(None, "--model", help="a bundle's name (default: the LIVE one)"),
    no_model: bool = typer.Option(False, "--no-model", help="the engine's model inputs only, no score"),
    train_from: str | None = typer.Option(None, "--train-from", help="start of the training window "
                                          "(YYYY-MM-DD or ISO time; default: the bundle's)"),
    train_to: str | None = typer.Option(None, "--train-to", help="end of the training window, inclusive "
                                        "(default: the bundle's)"),
    recent_from: str | None = typer.Option(None, "--recent-from", help="start of the recent window "
                                           "(default: 7 days before its end)"),
    recent_to: str | None = typer.Option(None, "--recent-to", help="end of the recent window, inclusive "
                                         "(default: the stream's last movement)"),
    bins: int = typer.Option(10, "--bins", help="quantile bins fixed on the training window"),
    plot_path: Path = typer.Option(Path("drift.html"), "--plot", help="write the plot here (HTML with inline SVG)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Population stability index (PSI) of every model input and of the score: training vs recent window.

    PSI < 0.1 stable, 0.1-0.25 moderate, >= 0.25 shift. Example:
    qalqan drift --stream events.jsonl --recent-from 2026-03-01 --plot drift.html
    """
    _training()
    from ..config import ConfigError, from_env
    from .bundle import BundleError
    from .drift import DriftError, plot
    from .drift import drift as run

    try:
        report = run(stream, from_env(), model, train_from, train_to, recent_from, recent_to, bins,
                     use_model=not no_model)
    except (DriftError, BundleError, ConfigError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    plot_path.write_text(plot(report))
    if as_json:
        print(json.dumps(report))
        return
    tr, rc = report["train"], report["recent"]
    t = Table(title=f"PSI, training {tr['from']} … {tr['to']} ({tr['rows']:,} movements, from the {tr['source']}) "
                    f"vs recent {rc['from']} … {rc['to']} ({rc['rows']:,}); model {report['model'] or 'none'}")
    for col in ("variable", "PSI", "reading", "missing train", "missing recent"):
        t.add_column(col, justify="left" if col == "variable" else "right")
    colour = {"stable": "green", "moderate": "yellow", "shift": "red"}
    for f in ([report["score"]] if report["score"] else []) + report["features"]:
        t.add_row(f["name"], f"{f['psi']:.4f}", f"[{colour[f['band']]}]{f['band']}[/]",
                  f"{f['missing']['train']:.1%}", f"{f['missing']['recent']:.1%}")
    out.print(t)
    s = report["summary"]
    out.print(f"{s['shift']} shifted (>= 0.25), {s['moderate']} moderate (0.1-0.25), {s['stable']} stable of "
              f"{s['inputs']} inputs" + (f"; score: {s['score_band']}" if s["score_band"] else "")
              + f"; plot: {escape(str(plot_path))}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
    app.command("train")(train)
    app.command("drift")(drift)
    app.add_typer(models_app, name="models")
