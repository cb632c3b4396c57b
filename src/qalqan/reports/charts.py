"""Charts as inline SVG: no JavaScript, no fonts or files to fetch, readable offline and in print.

Each chart is a ``<figure class="chart">`` holding one ``<svg>``; every drawn mark (a line, a bar,
a threshold) carries the class ``mark`` and a ``data-series`` name, which is what the headless
browser test looks for. Four kinds cover the report: lines against thresholds, grouped bars that
may go below zero (a bonus is a negative penalty), stacked bars, and horizontal bars.
"""

from __future__ import annotations

import math
from html import escape

from .figures import ChartSpec, Rule, Series, fmt_pct

__all__ = ["render_chart"]

W, H = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 64, 14, 16, 44


def render_chart(spec: ChartSpec) -> str:
    if spec.empty:
        body = (f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">no data in the window</text>')
        svg = _svg(spec, body, H)
    elif spec.kind == "line":
        svg = _line(spec)
    elif spec.kind == "hbars":
        svg = _hbars(spec)
    else:
        svg = _bars(spec, stacked=spec.kind == "stacked")
    note = f'<p class="note">{escape(spec.note)}</p>' if spec.note else ""
    return (f'<figure class="chart" id="chart-{escape(spec.id)}" data-kind="{spec.kind}">'
            f"<figcaption>{escape(spec.title)}</figcaption>{svg}{_legend(spec.series, spec.rules)}{note}</figure>")


def _svg(spec: ChartSpec, body: str, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" width="{W}" height="{height}" '
            f'role="img" aria-label="{escape(spec.title)}"><title>{escape(spec.title)}</title>{body}</svg>')


def _legend(series: list[Series], rules: list[Rule]) -> str:
    items = [f'<li><span class="swatch" style="background:{s.color}"></span>{escape(s.name)}</li>' for s in series]
    items += [f'<li><span class="swatch rule" style="border-color:{r.color}"></span>{escape(r.label)}</li>'
              for r in rules]
    return f'<ul class="legend">{"".join(items)}</ul>'


def _nice_ticks(lo: float, hi: float, n: int = 5, whole: bool = False) -> list[float]:
    """Round tick values covering ``lo``..``hi`` (1, 2 or 5 times a power of ten apart);
    ``whole``: counts, so never less than 1 apart (no "0 0 1 2 2" axis for small counts)."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if whole and mag < 10 else (1, 2, 2.5, 5, 10)
    step = next(m * mag for m in steps if m * mag >= raw)
    if whole:
        step = max(1.0, step)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _fmt(v: float, kind: str, span: float) -> str:
    if kind == "pct":
        digits = 0 if span >= 0.05 else 1 if span >= 0.005 else 2 if span >= 0.0005 else 3
        return fmt_pct(v, digits)
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f} M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:,.0f} k"
    return f"{v:,.0f}" if kind in ("count", "money") else f"{v:g}"


class _Scale:
    def __init__(self, values: list[float], y_format: str, height: int = H) -> None:
        lo, hi = min([0.0, *values]), max([0.0, *values])
        self.ticks = _nice_ticks(lo, hi, whole=y_format in ("count", "money"))
        self.lo, self.hi = self.ticks[0], self.ticks[-1]
        self.bottom, self.top = height - BOTTOM, TOP
        self.kind = y_format

    def y(self, v: float) -> float:
        return round(self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top), 2)

    def axis(self) -> str:
        span = self.hi - self.lo
        out = []
        for t in self.ticks:
            y = self.y(t)
            out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{y}" y2="{y}"/>'
                       f'<text class="tick" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">'
                       f"{escape(_fmt(t, self.kind, span))}</text>")
        return "".join(out)


def _x_labels(labels: list[str], xs: list[float], bottom: float) -> str:
    if not labels:
        return ""
    every = max(1, math.ceil(len(labels) / 7))
    out = []
    for i in range(0, len(labels), every):
        out.append(f'<text class="tick" x="{xs[i]:.1f}" y="{bottom + 16}" text-anchor="middle">'
                   f"{escape(_short(labels[i]))}</text>")
    return "".join(out)


def _short(label: str) -> str:
    return label[5:] if len(label) == 10 and label[4] == "-" and label[7] == "-" else label[:22]


def _line(spec: ChartSpec) -> str:
    n = len(spec.x)
    values = [v for s in spec.series for v in s.values if v is not None] + [r.value for r in spec.rules]
    sc = _Scale(values, spec.y_format)
    width = W - LEFT - RIGHT
    xs = [LEFT + (i + 0.5) * width / n for i in range(n)]
    parts = [sc.axis()]
    for r in spec.rules:
        y = sc.y(r.value)
        parts.append(f'<line class="mark threshold" data-series="{escape(r.label)}" x1="{LEFT}" x2="{W - RIGHT}" '
                     f'y1="{y}" y2="{y}" stroke="{r.color}" stroke-width="1.5" stroke-dasharray="6 4"/>')
    for s in spec.series:
        d, pen = [], "M"
        for x, v in zip(xs, s.values):
            if v is None:
                pen = "M"
                continue
            d.append(f"{pen}{x:.1f} {sc.y(v)}")
            pen = "L"
        if len(d) == 1:  # one point: a short tick, so that it shows
            x, y = d[0][1:].split()
            d = [f"M{float(x) - 3:.1f} {y}", f"L{float(x) + 3:.1f} {y}"]
        if d:
            parts.append(f'<path class="mark series" data-series="{escape(s.name)}" d="{" ".join(d)}" fill="none" '
                         f'stroke="{s.color}" stroke-width="2.5" stroke-linejoin="round"/>')
    parts.append(_x_labels(spec.x, xs, sc.bottom))
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{sc.y(0)}" y2="{sc.y(0)}"/>')
    return _svg(spec, "".join(parts), H)


def _bars(spec: ChartSpec, stacked: bool) -> str:
    n = len(spec.x)
    if stacked:
        tops = [sum(max(s.values[i] or 0, 0) for s in spec.series) for i in range(n)]
        values = tops
    else:
        values = [v or 0 for s in spec.series for v in s.values]
    sc = _Scale(values, spec.y_format)
    width = W - LEFT - RIGHT
    group = width / n
    k = 1 if stacked else len(spec.series)
    bar = max(group * 0.8 / k, 0.8)
    xs = [LEFT + (i + 0.5) * group for i in range(n)]
    parts = [sc.axis()]
    base = [0.0] * n
    for j, s in enumerate(spec.series):
        for i, v in enumerate(s.values):
            v = v or 0.0
            if v == 0:
                continue
            if stacked:
                y0, y1 = sc.y(base[i]), sc.y(base[i] + v)
                base[i] += v
                x = xs[i] - bar / 2
            else:
                y0, y1 = sc.y(0), sc.y(v)
                x = xs[i] - group * 0.4 + j * bar
            top, h = min(y0, y1), max(abs(y0 - y1), 1.0)
            parts.append(f'<rect class="mark bar" data-series="{escape(s.name)}" x="{x:.1f}" y="{top:.1f}" '
                         f'width="{bar:.1f}" height="{h:.1f}" fill="{s.color}">'
                         f"<title>{escape(spec.x[i])}: {escape(s.name)} {escape(_fmt(v, spec.y_format, 1))}</title>"
                         "</rect>")
    parts.append(_x_labels(spec.x, xs, sc.bottom))
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{W - RIGHT}" y1="{sc.y(0)}" y2="{sc.y(0)}"/>')
    return _svg(spec, "".join(parts), H)


def _hbars(spec: ChartSpec) -> str:
    s = spec.series[0]
    left, row = 210, 18
    height = TOP + row * len(spec.x) + 30
    hi = max([v or 0 for v in s.values] + [1.0 if spec.y_format == "pct" else 0.0])
    width = W - left - RIGHT - 50
    parts = []
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = left + t * width
        parts.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{height - 26}"/>'
                     f'<text class="tick" x="{x:.1f}" y="{height - 12}" text-anchor="middle">'
                     f"{escape(_fmt(t * hi, spec.y_format, hi))}</text>")
    for i, (label, v) in enumerate(zip(spec.x, s.values)):
        y = TOP + i * row
        w = max((v or 0) / hi * width, 1.0) if hi else 1.0
        parts.append(f'<text class="label" x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label)}</text>'
                     f'<rect class="mark bar" data-series="{escape(s.name)}" x="{left}" y="{y + 2}" width="{w:.1f}" '
                     f'height="{row - 5}" fill="{s.color}"><title>{escape(label)}: '
                     f"{escape(_fmt(v or 0, spec.y_format, 1))}</title></rect>"
                     f'<text class="value" x="{left + w + 4:.1f}" y="{y + 12}">'
                     f"{escape(_fmt(v or 0, spec.y_format, 0.01))}</text>")
    return _svg(spec, "".join(parts), height)
