"""The report's dashboard in a terminal: the same headline figures and chart series as the HTML
page (``figures.py``), drawn as a table and sparklines."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from .figures import ChartSpec, chart_specs, fmt_pct, headline, window_note
from .report import Report

__all__ = ["render_console", "sparkline"]

_BLOCKS = "▁▂▃▄▅▆▇█"
_TONES = {"good": "green", "bad": "red", "warn": "yellow", "": "bold"}


def sparkline(values: list[float | None], width: int = 48) -> str:
    """The series squeezed to ``width`` characters (the last value of each slice); gaps as spaces."""
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    points = [values[min(i + step - 1, len(values) - 1)] for i in range(0, len(values), step)]
    known = [v for v in points if v is not None]
    if not known:
        return " " * len(points)
    lo, hi = min(known), max(known)
    span = (hi - lo) or 1.0
    return "".join(" " if v is None else _BLOCKS[min(int((v - lo) / span * 7.999), 7)] for v in points)


def _spec_line(spec: ChartSpec) -> list[str]:
    lines = []
    for s in spec.series:
        known = [v for v in s.values if v is not None]
        last = known[-1] if known else None
        shown = fmt_pct(last, 3) if spec.y_format == "pct" else f"{sum(known):,.0f} total"
        lines.append(f"  {s.name:<28} {sparkline(s.values)}  {shown}")
    if spec.rules:
        lines.append("  thresholds: " + "; ".join(r.label for r in spec.rules))
    return lines


def render_console(report: Report, console: Console) -> None:
    f = report.facts
    console.print(f"[bold]qalqan fraud report[/bold] {f.start} – {f.end}, labels as of {f.as_of}, "
                  f"amounts in {report.currency}" + (f"; {window_note(report)}" if window_note(report) else ""))
    t = Table(show_header=False, box=None, pad_edge=False)
    for fig in headline(report):
        style = _TONES[fig.tone]
        t.add_row(fig.label, f"[{style}]{fig.value}[/{style}]", f"[dim]{fig.note}[/dim]")
    console.print(t)
    for spec in chart_specs(report):
        if spec.kind == "line" and not spec.empty:
            console.print(f"[bold]{spec.title}[/bold]")
            for line in _spec_line(spec):
                console.print(line, markup=False, highlight=False)
        elif spec.id == "alerts-per-day" and not spec.empty:
            totals = [sum(v or 0 for v in col) for col in zip(*(s.values for s in spec.series))]
            console.print(f"[bold]{spec.title}[/bold]")
            console.print(f"  {'all alerts':<28} {sparkline(list(totals))}  {sum(totals):,.0f} total",
                          markup=False, highlight=False)
    if report.alerts:
        a = Table("level", "programme", "who", "period", "what", title="programme alerts")
        for al in report.alerts[:15]:
            style = "red" if al.level == "breach" else "yellow"
            a.add_row(f"[{style}]{al.level}[/{style}]", al.programme, al.entity, al.period, al.message)
        console.print(a)
        if len(report.alerts) > 15:
            console.print(f"… and {len(report.alerts) - 15} more in the report")
