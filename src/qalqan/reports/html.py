"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

It opens from a file on a laptop with no network, prints, and can be mailed as it is. The page
shows what ``figures.py`` decides (the same figures the console dashboard shows) and the tables of
``report_to_dict``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from html import escape
from typing import Any

import polars as pl

from .charts import render_chart
from .figures import chart_specs, fmt_amount, fmt_pct, headline, window_note
from .report import Report

__all__ = ["render_html"]

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:20px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e7;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5b6474;margin:0 0 12px}.note{color:#5b6474;font-size:12px;margin:4px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px;margin:10px 0}
.card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:6px 10px}
.card .label{color:#5b6474;font-size:12px}.card .value{font-size:18px;font-weight:600}
.card.good .value{color:#1a7f37}.card.bad .value{color:#c62828}.card.warn .value{color:#b26a00}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:10px}
figure.chart{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:0;padding:6px 4px}
figure.chart figcaption{font-weight:600;font-size:13px;padding:0 6px 4px}
svg{display:block;font-size:11px;width:100%;height:auto}svg .grid{stroke:#e6e9ee}svg .axis{stroke:#8a93a3}
svg text{fill:#4a5363}svg .empty{fill:#8a93a3;font-size:13px}
.legend{list-style:none;margin:2px 6px;padding:0;display:flex;flex-wrap:wrap;gap:4px 12px;font-size:11px}
.swatch{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
.swatch.rule{height:0;border-top:2px dashed;width:14px;background:none}
table{border-collapse:collapse;background:#fff;font-size:12px;margin:4px 0 8px;width:100%}
th,td{border:1px solid #e1e5eb;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#eef1f5;font-weight:600}td.l,th.l{text-align:left}
tr.breach td{background:#fdecec}tr.warning td{background:#fff6e0}
td.l:last-child{white-space:normal;min-width:260px}.tw{overflow-x:auto}
code{font-size:12px;background:#eef1f5;padding:0 3px;border-radius:3px}
.box{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px 12px}
@media print{body{background:#fff}}
"""

Cell = str | int | float | None


def _table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], left: int = 1,
           row_class: Callable[[Sequence[Cell]], str] | None = None) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{escape(h)}</th>' for i, h in enumerate(headers))
    body = []
    for r in rows:
        cls = f' class="{row_class(r)}"' if row_class else ""
        cells = "".join(f'<td class="{"l" if i < left else ""}">{escape("" if v is None else str(v))}</td>'
                        for i, v in enumerate(r))
        body.append(f"<tr{cls}>{cells}</tr>")
    if not body:
        return '<p class="note">nothing to show for this window.</p>'
    return f'<div class="tw"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def render_html(report: Report) -> str:
    f = report.facts
    cur = report.currency
    title = f"qalqan fraud report {f.start.isoformat()} – {f.end.isoformat()}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="meta">Labels as of <b>{f.as_of.isoformat()}</b> (chargebacks arrive late: a later report may '
        f"show more fraud) · amounts in {escape(cur)} · periods: {report.period}"
        f"{' · contracts for merchant ' + escape(report.merchant) if report.merchant else ''}"
        f"{' · ' + escape(window_note(report)) if window_note(report) else ''}</p>",
        '<p class="note"><b>Passed</b> = approved; <b>challenged</b> = a step-up was asked (counted as settled: it '
        "goes through once passed); <b>stopped</b> = review, hold or decline (not settled). The <b>fraud rate</b> is "
        "fraud among settled movements; the <b>attempted</b> rate counts every decided movement. A movement is fraud "
        "when its latest label by the as-of day is <code>fraud</code> or <code>chargeback</code>.</p>",
        '<section class="cards">',
    ]
    for fig in headline(report):
        parts.append(f'<div class="card {fig.tone}"><div class="label">{escape(fig.label)}</div>'
                     f'<div class="value">{escape(fig.value)}</div><div class="note">{escape(fig.note)}</div></div>')
    parts.append("</section><h2>Charts</h2><section class=\"charts\">")
    parts.extend(render_chart(spec) for spec in chart_specs(report))
    parts.append("</section>")
    parts += _alerts(report), _contracts(report), _programmes(report), _rates(report), _rules(report)
    parts.append(_unverified(report))
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _alerts(report: Report) -> str:
    rows = [(a.level, a.programme, a.entity, a.period, a.message) for a in report.alerts]
    return "<h2>Programme alerts</h2>" + _table(
        ["level", "programme", "who", "period", "what"], rows, left=5, row_class=lambda r: str(r[0]))


def _contracts(report: Report) -> str:
    out = ["<h2>Contracts</h2>"]
    for c in report.contracts:
        k = c.contract
        pays = "; ".join(f"{a}: {t}" for a, t in k.pays.items())
        out.append(f"<h3>{escape(k.title)} <code>{escape(k.name)}</code></h3>"
                   f'<p class="note">per {k.period}, fraud share by {k.basis}, in {escape(k.currency)}; '
                   f"{escape(pays)}; from <code>{escape(k.source)}</code></p>")
        tiers = []
        for i, t in enumerate(k.tiers):
            lo = "" if i == 0 else f"from {k.tiers[i - 1].below}"
            hi = "" if t.below is None else f"below {t.below}"
            tiers.append((f"{k.tiers_on} {lo} {hi}".strip(), "; ".join(f"{a} = {x}" for a, x in t.text.items())))
        out.append(_table(["tier", "formula"], tiers, left=2))
        show_commission = "commission" in k.amounts
        headers = ["period", "days", "volume", "fraud", "fraud share", "tier", "penalty", "bonus"]
        if show_commission:
            headers.append("commission")
        rows = []
        for s in c.settlements:
            r: list[Cell] = [f"{s.period}{' (partial)' if s.partial else ''}", f"{s.start} – {s.end}",
                             fmt_amount(s.volume) if k.basis == "value" else f"{s.volume:,}",
                             fmt_amount(s.fraud) if k.basis == "value" else f"{s.fraud:,}",
                             fmt_pct(float(s.fraud_share), 3), s.tier + 1, fmt_amount(s.penalty), fmt_amount(s.bonus)]
            if show_commission:
                r.append(fmt_amount(s.commission))
            rows.append(r)
        out.append(_table(headers, rows, left=2))
    return "".join(out)


def _programmes(report: Report) -> str:
    sch, cfg = report.schemes, report.programmes
    out = ["<h2>Card-scheme programmes and PSD2</h2>",
           '<p class="note">Reports and chargebacks count in the month they arrive; only labels on settled '
           "movements count. The events carry no card scheme, so both schemes' rules are applied to all card "
           "payments. Projections: run rate to the month's end for a partial month, else the trend of the last "
           f"two months. Warnings from {fmt_pct(cfg.warn_at, 0)} of a threshold.</p>",
           "<h3>Visa VAMP — the whole portfolio (acquirer)</h3>"]
    out.append(_table(
        ["period", "settled CNP", "fraud (TC40)", "disputes (TC15)", "ratio", "projected", "above standard",
         "excessive", "status"],
        [(f"{r['period']}{' (partial)' if r['partial'] else ''}", f"{r['settled_cnp']:,}", r["tc40"], r["tc15"],
          fmt_pct(r["ratio"]), fmt_pct(r["projected_ratio"]), fmt_pct(r["above_standard"]),
          fmt_pct(r["excessive"]), r["status"]) for r in sch.vamp_acquirer],
    ))
    notable = [r for r in sch.vamp_merchants if r["status"] != "ok"]
    top = sorted(sch.vamp_merchants, key=lambda r: (-r["count"], r["merchant"]))[:10]
    shown = notable + [r for r in top if r not in notable]
    out.append(f"<h3>Visa VAMP — merchants</h3><p class=\"note\">Merchants in or near the programme, then the ten "
               f"with most reports; excessive needs at least {cfg.vamp_merchant_min_count:,} reports a month.</p>")
    out.append(_table(
        ["merchant", "period", "settled CNP", "reports", "ratio", "projected reports", "threshold", "status"],
        [(r["merchant"], r["period"], f"{r['settled_cnp']:,}", f"{r['count']:,}", fmt_pct(r["ratio"]),
          f"{r['projected_count']:,.0f}", fmt_pct(r["threshold"]), r["status"]) for r in shown],
    ))
    mc = [r for r in sch.mastercard if r["chargebacks"] or r["programme"] != "ok" or r["efm_warning"]]
    mc.sort(key=lambda r: (r["programme"] == "ok", -r["chargebacks"], r["merchant"], r["period"]))
    out.append("<h3>Mastercard — ECM, HECM, EFM</h3>")
    out.append(_table(
        ["merchant", "period", "sales last month", "chargebacks", "ratio", "projected", "programme",
         "fraud CB (USD)", "fraud ratio", "3-D Secure", "EFM"],
        [(r["merchant"], r["period"], f"{r['sales_last_month']:,}", r["chargebacks"], fmt_pct(r["ratio"]),
          fmt_pct(r["projected_ratio"]), r["programme"] + (" (warning)" if r["ecm_warning"] else ""),
          r["fraud_chargebacks_usd"], fmt_pct(r["fraud_ratio"]), fmt_pct(r["three_ds_share"], 0),
          "yes" if r["efm"] else "warning" if r["efm_warning"] else "no") for r in mc[:25]],
    ))
    out.append("<h3>PSD2 transaction risk analysis (rolling 90 days)</h3>")
    out.append(_table(
        ["type", "up to", "reference", "rate now", "projected (quarter end)", "band's own rate",
         "quarter ends above", "status"],
        [(b["kind"].replace("_", " "), f"{b['up_to_eur']} EUR", fmt_pct(b["reference"], 3), fmt_pct(b["rate"], 3),
          fmt_pct(b["projected"], 3), fmt_pct(b["band_rate"], 3), ", ".join(b["quarters_above"]) or "—",
          b["status"]) for b in report.psd2.bands],
        left=1, row_class=lambda r: "breach" if r[-1] in ("exemption lost", "above reference")
        else "warning" if r[-1] == "warning" else "",
    ))
    return "".join(out)


def _rate_rows(frame: pl.DataFrame, key: str | None) -> list[list[Cell]]:
    rows = []
    for r in frame.iter_rows(named=True):
        rows.append([r["period"], *([r[key]] if key else []), f"{r['movements']:,}", f"{r['settled']:,}",
                     fmt_amount(Decimal(r["settled_value"]).scaleb(-2)), f"{r['fraud']:,}", f"{r['fraud_settled']:,}",
                     fmt_pct(r["rate_count"], 3), fmt_pct(r["rate_value"], 3), fmt_pct(r["attempted_rate_value"], 3),
                     fmt_pct(r["stopped_share"], 1), fmt_pct(r["challenged_share"], 1), fmt_pct(r["passed_share"], 1)])
    return rows


def _rate_headers(cur: str) -> list[str]:
    return ["movements", "settled", f"settled value ({cur})", "fraud", "fraud settled", "rate (count)",
            "rate (value)", "attempted (value)", "stopped", "challenged", "passed"]


def _rates(report: Report) -> str:
    cur = report.currency
    out = ["<h2>Fraud rates</h2>", '<p class="note">Stopped, challenged and passed are shares of the fraudulent '
           "movements (by count).</p>"]
    for dim, title in (("all", "All money movements"), ("channel", "Per channel"), ("rail", "Per transfer rail"),
                       ("type", "Per type")):
        frame = report.rates.filter(pl.col("dimension") == dim)
        if dim == "rail":
            frame = frame.filter(pl.col("key") != "—")
        key = None if dim == "all" else "key"
        out.append(f"<h3>{title}</h3>")
        out.append(_table(["period", *([dim] if key else []), *_rate_headers(cur)], _rate_rows(frame, key),
                          left=2 if key else 1))
    top = report.merchants.head(15).with_columns(period=pl.lit("window"))
    out.append("<h3>Merchants with most fraud settled (by value), over the whole window</h3>")
    out.append(_table(["period", "merchant", *_rate_headers(cur)], _rate_rows(top, "merchant"), left=2))
    return "".join(out)


def _rules(report: Report) -> str:
    rows = [(r["code"], f"{r['hits']:,}", f"{r['fraud_hits']:,}", fmt_pct(r["precision"], 1), f"{r['stopped']:,}")
            for r in report.rules.iter_rows(named=True)]
    return "<h2>Rules</h2>" + _table(["reason code", "hits", "on fraud", "precision", "stopped"], rows)


def _unverified(report: Report) -> str:
    items: list[Any] = [f"<li>Programme thresholds: <code>{escape(report.programmes.source)}</code> (Visa VAMP, "
                        "Mastercard ECM/HECM/EFM, PSD2 reference rates) — from public summaries, unverified.</li>"]
    for c in report.contracts:
        consts = ", ".join(f"{k} = {v}" for k, v in c.contract.constants.items())
        items.append(f"<li>Contract <code>{escape(c.contract.name)}</code> (<code>{escape(c.contract.source)}"
                     f"</code>): {escape(consts)} — as reported by the press, unverified.</li>")
    return ("<h2>Unverified figures</h2><p class=\"note\">These numbers are configuration, not facts checked "
            "against a signed contract or a scheme's rule book:</p><ul class=\"note\">" + "".join(items) + "</ul>")
