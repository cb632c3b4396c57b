"""Drift: the population stability index (PSI) of every model input and of the model's score,
between the training window and a recent window.

    report = drift(stream, settings, model="gbm-1a2b3c4d5e6f")     # or the LIVE bundle
    html = plot(report)                                             # self-contained SVG in HTML

Why PSI: a model learnt on one population silently loses its ranking when the population moves
(a new product, a new fraud wave, a feature that broke upstream); PSI says, per input, how much
the recent distribution moved from the one the model learnt on, in a number risk teams already
read with fixed thresholds.

Method (fixed, so two reports compare):

- **Bins** are fixed by the training window alone: the cut points are the training values'
  quantiles at 1/b … (b−1)/b (``b`` = 10 by default; observed values, not interpolated), duplicates
  dropped (a yes/no input gets two or three bins, not ten). A value ``x`` falls in bin ``i`` when
  ``edge[i−1] < x <= edge[i]``; below the first edge is bin 0, above the last the final bin.
  Missing values (None / NaN) get a bin of their own when either window has any.
- **Shares** are smoothed so that an empty bin does not make the index infinite: with ``k`` bins and
  ``n`` rows, a bin's share is ``(count + 0.5) / (n + 0.5 k)`` (additive smoothing, α = 0.5).
- **PSI** = Σ over bins of ``(recent − train) × ln(recent / train)``.
- **Thresholds** (the usual credit-risk reading): below 0.1 *stable*; 0.1 to 0.25 *moderate*
  (look at it); 0.25 and above *shift* (the model's view of this input no longer holds: investigate,
  retrain).

Windows are inclusive of both ends and taken on the money movements' event times. By default the
training window is the bundle's own (``manifest.window``: first movement … last trained movement)
and the recent window the stream's last 7 days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings

BINS = 10
ALPHA = 0.5
STABLE, SHIFT = 0.1, 0.25
RECENT_DAYS = 7


class DriftError(ValueError):
    """Drift cannot be measured as asked (an empty window, no model and no window); says which option."""


def band(psi: float) -> str:
    """The reading of an index: stable (< 0.1), moderate (0.1–0.25) or shift (>= 0.25)."""
    return "stable" if psi < STABLE else "moderate" if psi < SHIFT else "shift"


def edges(train: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The cut points from the training window's finite values: quantiles 1/b … (b−1)/b, each an
    observed value (``method="lower"``: a count or a flag is cut between its values), unique."""
    x = np.asarray(train, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0 or bins < 2:
        return np.empty(0)
    return np.unique(np.quantile(x, np.arange(1, bins) / bins, method="lower"))


def counts(x: np.ndarray, cuts: np.ndarray) -> tuple[np.ndarray, int]:
    """Rows per bin (``len(cuts) + 1`` bins, ``edge[i−1] < x <= edge[i]``) and the missing ones."""
    x = np.asarray(x, dtype=np.float64)
    missing = ~np.isfinite(x)
    codes = np.searchsorted(cuts, x[~missing], side="left")
    return np.bincount(codes, minlength=len(cuts) + 1), int(missing.sum())


def shares(binned: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """Smoothed shares: ``(count + α) / (n + α k)``; never zero, so the logarithm stays finite."""
    c = np.asarray(binned, dtype=np.float64)
    return (c + alpha) / (c.sum() + alpha * len(c))


def psi(train: np.ndarray, recent: np.ndarray, bins: int = BINS, alpha: float = ALPHA) -> dict[str, Any]:
    """The index of one variable and what it was computed from (cut points, shares per bin)."""
    cuts = edges(train, bins)
    ct, mt = counts(train, cuts)
    cr, mr = counts(recent, cuts)
    if mt or mr:  # a bin for the missing values, last
        ct, cr = np.r_[ct, mt], np.r_[cr, mr]
    e, a = shares(ct, alpha), shares(cr, alpha)
    value = float(np.sum((a - e) * np.log(a / e)))
    return {"psi": round(value, 6), "band": band(value), "edges": [float(v) for v in cuts],
            "missing_bin": bool(mt or mr), "train_share": [round(float(v), 6) for v in e],
            "recent_share": [round(float(v), 6) for v in a],
            "missing": {"train": mt / max(len(train), 1), "recent": mr / max(len(recent), 1)}}


def parse_time(text: str, option: str, end_of_day: bool = False) -> int:
    """'2026-02-10' or an ISO time → µs since the epoch (UTC); a bare date as a window's end means
    the end of that day."""
    t = text.strip()
    try:
        if len(t) == 10:
            d = datetime.fromisoformat(t).replace(tzinfo=UTC)
            if end_of_day:
                d += timedelta(days=1) - timedelta(microseconds=1)
        else:
            d = datetime.fromisoformat(t.replace("Z", "+00:00"))
            d = d if d.tzinfo else d.replace(tzinfo=UTC)
    except ValueError:
        raise DriftError(f"{option} {text!r}: expected a date (YYYY-MM-DD) or an ISO time") from None
    return int(d.timestamp() * 1_000_000)


def _iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Window:
    start: int
    end: int

    def mask(self, ts: np.ndarray) -> np.ndarray:
        return (ts >= self.start) & (ts <= self.end)


def drift(stream: str | Path, settings: Settings, model: str | None = None, train_from: str | None = None,
          train_to: str | None = None, recent_from: str | None = None, recent_to: str | None = None,
          bins: int = BINS, use_model: bool = True) -> dict[str, Any]:
    """PSI of every input (and of the score, with a model) between the training and the recent window.

    ``model``: a bundle's name; None reads the LIVE bundle; ``use_model=False`` (or no LIVE bundle)
    measures the engine's model inputs alone, and then the training window must be given.
    """
    from ..features import definitions
    from ..features.offline import build, views_from_jsonl
    from . import bundle
    from .train import matrix, model_inputs

    if bins < 2:
        raise DriftError(f"--bins {bins}: at least 2")
    fs = definitions.load()
    name = None
    if use_model:
        name = model or bundle.live_name(settings.home)
    live = None
    if name is not None:
        from .registry import load_bundle

        live = load_bundle(settings, name, fs.version)  # verified; BundleError if not servable
        inputs = list(live.inputs)
        window = live_window = bundle.read(settings.home, name).manifest.get("window") or {}
    else:
        inputs = model_inputs(fs)
        window = live_window = {}
    if not Path(stream).is_file():
        raise DriftError(f"--stream {stream}: no such file")
    views = views_from_jsonl(stream, settings.key, settings.fx)
    ts_of = {v["event_id"]: v["ts_us"] for v in views}
    frame = build(views, fs)
    if frame.height == 0:
        raise DriftError(f"--stream {stream}: no money movement")
    ts = np.array([ts_of[e] for e in frame["event_id"].to_list()], dtype=np.int64)
    first, last = int(ts.min()), int(ts.max())

    def pick(text: str | None, option: str, fallback: int | None, end: bool) -> int:
        if text:
            return parse_time(text, option, end_of_day=end)
        if fallback is None:
            raise DriftError(f"{option} is needed: no model bundle gives the training window "
                             "(promote one, pass --model, or give --train-from and --train-to)")
        return fallback

    def manifest_time(key: str) -> int | None:
        v = window.get(key)
        return parse_time(v, "manifest window") if v else None

    train = Window(pick(train_from, "--train-from", manifest_time("from") or (first if name else None), False),
                   pick(train_to, "--train-to", manifest_time("to"), True))
    recent_end = pick(recent_to, "--recent-to", last, True)
    recent = Window(pick(recent_from, "--recent-from", recent_end - RECENT_DAYS * 86_400_000_000 + 1, False),
                    recent_end)
    for w, label in ((train, "training"), (recent, "recent")):
        if w.start > w.end:
            raise DriftError(f"the {label} window starts after it ends ({_iso(w.start)} > {_iso(w.end)})")
    mt, mr = train.mask(ts), recent.mask(ts)
    if not mt.any():
        raise DriftError(f"the training window {_iso(train.start)} … {_iso(train.end)} holds no money movement "
                         f"of the stream ({_iso(first)} … {_iso(last)}): check --train-from/--train-to")
    if not mr.any():
        raise DriftError(f"the recent window {_iso(recent.start)} … {_iso(recent.end)} holds no money movement "
                         f"of the stream ({_iso(first)} … {_iso(last)}): check --recent-from/--recent-to")
    X = matrix(frame, inputs)
    features = []
    for j, col in enumerate(inputs):
        r = psi(X[mt, j], X[mr, j], bins)
        features.append({"name": col, **r})
    score = None
    if live is not None:
        s = live.score_many(X)
        score = {"name": "score", **psi(s[mt], s[mr], bins),
                 "mean": {"train": float(s[mt].mean()), "recent": float(s[mr].mean())}}
    n_shift = sum(f["band"] == "shift" for f in features)
    n_mod = sum(f["band"] == "moderate" for f in features)
    return {
        "stream": str(stream), "model": name, "features_version": fs.version, "bins": bins, "alpha": ALPHA,
        "thresholds": {"stable_below": STABLE, "shift_from": SHIFT},
        "train": {"from": _iso(train.start), "to": _iso(train.end), "rows": int(mt.sum()),
                  "source": "options" if (train_from or train_to) else "bundle manifest" if live_window else "stream"},
        "recent": {"from": _iso(recent.start), "to": _iso(recent.end), "rows": int(mr.sum())},
        "features": sorted(features, key=lambda f: -f["psi"]),
        "score": score,
        "summary": {"inputs": len(features), "shift": n_shift, "moderate": n_mod,
                    "stable": len(features) - n_shift - n_mod, "score_band": score["band"] if score else None},
    }


_COLOURS = {"stable": "#4c9a6a", "moderate": "#e0a030", "shift": "#c8403a"}


def _psi_bars(items: list[dict[str, Any]]) -> str:
    """Horizontal bars of PSI per variable, coloured by band, with the 0.1 and 0.25 lines."""
    left, row, width, top = 260, 16, 420, 36
    hi = max([SHIFT * 1.2] + [min(f["psi"], 5.0) for f in items])
    height = top + row * len(items) + 30

    def x(v: float) -> float:
        return left + min(v, hi) / hi * width

    parts = []
    for t, label, dy in ((STABLE, "0.1: moderate from here", 24), (SHIFT, "0.25: shift from here", 10)):
        parts.append(f'<line class="threshold" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - dy - 2}" '
                     f'y2="{height - 24}" stroke="#555" stroke-dasharray="4 3"/>'
                     f'<text x="{x(t) + 3:.1f}" y="{top - dy + 6}" font-size="11">{label}</text>')
    for i, f in enumerate(items):
        y = top + i * row
        w = max(x(f["psi"]) - left, 1.0)
        parts.append(f'<text x="{left - 6}" y="{y + 11}" text-anchor="end" font-size="11">{escape(f["name"])}</text>'
                     f'<rect class="mark bar" data-series="{escape(f["band"])}" x="{left}" y="{y + 2}" '
                     f'width="{w:.1f}" height="{row - 4}" fill="{_COLOURS[f["band"]]}">'
                     f'<title>{escape(f["name"])}: PSI {f["psi"]:.4f} ({f["band"]})</title></rect>'
                     f'<text x="{left + w + 4:.1f}" y="{y + 11}" font-size="11">{f["psi"]:.3f}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
            f'role="img" aria-label="PSI per variable">{"".join(parts)}</svg>')


def _share_bars(item: dict[str, Any]) -> str:
    """The score's bins: training share beside recent share."""
    tr, rc = item["train_share"], item["recent_share"]
    cuts = item["edges"]
    labels = [f"≤ {cuts[0]:.2g}" if cuts else "all"] + [f"≤ {c:.2g}" for c in cuts[1:]]
    labels += [f"> {cuts[-1]:.2g}"] if cuts else []
    labels += ["missing"] if item["missing_bin"] else []
    left, top, h, col = 40, 16, 160, 48
    hi = max(tr + rc) or 1.0
    parts = []
    for i, lab in enumerate(labels):
        x0 = left + i * col
        for k, (v, colour, series) in enumerate(((tr[i], "#7a8ca8", "training"), (rc[i], "#d0703a", "recent"))):
            bh = v / hi * h
            parts.append(f'<rect class="mark bar" data-series="{series}" x="{x0 + 4 + k * 18}" '
                         f'y="{top + h - bh:.1f}" width="16" height="{bh:.1f}" fill="{colour}">'
                         f"<title>{escape(lab)}: {series} {v:.1%}</title></rect>")
        lx, ly = x0 + col / 2, top + h + 12
        parts.append(f'<text x="{lx:.1f}" y="{ly}" text-anchor="end" font-size="10" '
                     f'transform="rotate(-35 {lx:.1f} {ly})">{escape(lab)}</text>')
    parts.append(f'<text x="{left}" y="{top + h + 62}" font-size="11"><tspan fill="#7a8ca8">■ training</tspan> '
                 f'<tspan fill="#d0703a">■ recent</tspan> (share of the window\'s movements per score bin)</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + col * len(labels) + 20}" height="{top + h + 72}" '
            f'role="img" aria-label="score distribution">{"".join(parts)}</svg>')


def plot(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (inline SVG: no script, nothing fetched)."""
    items = ([report["score"]] if report["score"] else []) + report["features"]
    s = report["summary"]
    head = (f"model {escape(str(report['model'] or 'none (inputs only)'))}; training window "
            f"{report['train']['from']} … {report['train']['to']} ({report['train']['rows']:,} movements), "
            f"recent {report['recent']['from']} … {report['recent']['to']} ({report['recent']['rows']:,}); "
            f"{s['shift']} shifted, {s['moderate']} moderate, {s['stable']} stable of {s['inputs']} inputs")
    score = ""
    if report["score"]:
        sc = report["score"]
        score = (f"<h2>Score: PSI {sc['psi']:.4f} ({sc['band']})</h2>"
                 f'<figure class="chart">{_share_bars(sc)}</figure>')
    return ("<!doctype html><html><head><meta charset='utf-8'><title>qalqan drift</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}</style></head><body>"
            f"<h1>Population stability (PSI)</h1><p>{head}</p>"
            f"<p>Bins: the training window's deciles; shares smoothed (+{report['alpha']} per bin); "
            f"PSI &lt; {STABLE} stable, {STABLE}–{SHIFT} moderate, ≥ {SHIFT} shift.</p>{score}"
            f'<h2>PSI per variable</h2><figure class="chart">{_psi_bars(items)}</figure></body></html>')


def fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4f}"
