"""`qalqan report` end to end on simulated traffic decided by the engine: one report, four
formats that agree with each other, with `qalqan contract` and with the demo's scoreboard."""

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qalqan.cli import app
from qalqan.scoreboard import score_record
from qalqan.store import open_record

from .conftest import WINDOW, decide_into

runner = CliRunner()
FROM, TO = WINDOW


def report_json(db: str, *extra: str) -> dict:
    r = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--format", "json", "--db", db, *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def doc(sim_db: str) -> dict:
    return report_json(sim_db)


def test_totals_are_the_sum_of_the_periods_and_of_each_dimension(doc: dict):
    t = doc["totals"]
    assert t["movements"] > 5000 and t["fraud"] > 20
    counts = ("movements", "settled", "fraud", "fraud_stopped", "fraud_challenged", "fraud_passed")
    for dim in ("all", "channel", "type"):
        rows = [r for r in doc["rates"] if r["dimension"] == dim]
        for c in counts:
            assert sum(r[c] for r in rows) == t[c], (dim, c)
        assert sum(Decimal(r["fraud_settled_value"]) for r in rows) == Decimal(t["fraud_settled_value"])
    assert {r["period"] for r in doc["rates"]} == {"2026-02", "2026-03"}
    assert t["fraud"] == t["fraud_stopped"] + t["fraud_challenged"] + t["fraud_passed"]
    assert t["rate_value"] == pytest.approx(float(Decimal(t["fraud_settled_value"]) / Decimal(t["settled_value"])))
    assert doc["window"] == {"from": FROM, "to": TO, "as_of": doc["window"]["as_of"], "currency": "RUB",
                             "period": "month", "merchant": None}
    assert len(doc["rolling"]) == len(doc["alerts_per_day"]) == 35


def test_fraud_stopped_agrees_with_the_demo_scoreboard(doc: dict, sim_db: str):
    record = open_record(sim_db)
    board = score_record(record)  # counts every label in the record, as the report's default as-of does
    record.close()
    t = doc["totals"]
    assert t["fraud_stopped"] + t["fraud_challenged"] == sum(board.caught.values())  # caught = not approved
    assert t["fraud_passed"] == sum(board.missed.values())


def test_contracts_in_the_report_are_the_contract_command(doc: dict, sim_db: str):
    for c in doc["contracts"]:
        r = runner.invoke(app, ["contract", "-t", c["template"], "--from", FROM, "--to", TO, "--db", sim_db,
                                "--json"])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["periods"] == c["settlements"]
    names = [c["template"] for c in doc["contracts"]]
    assert names == ["airline-bank", "bank-processor", "processor-commission"]


def test_as_of_an_earlier_day_knows_less_fraud(doc: dict, sim_db: str):
    early = report_json(sim_db, "--as-of", "2026-02-15")
    assert early["window"]["as_of"] == "2026-02-15"
    assert early["totals"]["fraud"] < doc["totals"]["fraud"]
    assert early["totals"]["movements"] == doc["totals"]["movements"]


def test_programme_sections_and_alerts(doc: dict):
    p = doc["programmes"]
    assert [r["period"] for r in p["visa_vamp_acquirer"]] == ["2026-02", "2026-03"]
    assert {b["kind"] for b in p["psd2_tra"]["bands"]} == {"remote_card", "credit_transfer"}
    assert all(a["level"] in ("breach", "warning") and a["message"] for a in doc["alerts"])
    assert {r["code"] for r in doc["rules"]} and len(doc["scores"]) == 20


def test_html_is_self_contained_with_seven_charts(sim_db: str, tmp_path: Path):
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--db", sim_db, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "Fraud rate by value" in r.output and f"wrote {out}" in r.output  # the console dashboard too
    html = out.read_text()
    assert html.count('<figure class="chart"') == 7 and html.count("<svg") == 7
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "<link" not in html and "@import" not in html
    assert "Labels as of" in html and "Unverified figures" in html and "no data in the window" not in html


def test_csv_writes_one_table_per_section(sim_db: str, tmp_path: Path):
    folder = tmp_path / "csv"
    r = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--db", sim_db, "--format", "csv", "-o",
                            str(folder)])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in folder.iterdir())
    assert {"rates.csv", "contracts.csv", "alerts_per_day.csv", "psd2_tra.csv", "rules.csv"} <= set(names)
    with open(folder / "contracts.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows and {"template", "period", "penalty", "bonus"} <= set(rows[0])
    assert Decimal(rows[0]["volume"]) > 0


def test_console_format_and_errors(sim_db: str):
    r = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--db", sim_db, "--format", "console"])
    assert r.exit_code == 0 and "Fraud rate by count" in r.output and "Alerts per day" in r.output
    for args, message in (
        (["--format", "pdf"], "--format 'pdf'"),
        (["--period", "year"], "--period 'year'"),
        (["--currency", "XXX"], "--currency XXX"),
        (["--contract", "nope"], "no such template"),
    ):
        r = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--db", sim_db, *args])
        assert r.exit_code == 2 and message in r.output, (args, r.output)
    r = runner.invoke(app, ["report", "--to", TO, "--db", sim_db])
    assert r.exit_code == 2 and "--from and --to are both needed" in r.output


def test_in_another_currency_money_converts_and_rates_stay(doc: dict, sim_db: str):
    kzt = report_json(sim_db, "--currency", "KZT", "--contract", "bank-processor")
    assert kzt["window"]["currency"] == "KZT"
    assert Decimal(kzt["totals"]["settled_value"]) > 5 * Decimal(doc["totals"]["settled_value"])
    assert kzt["totals"]["rate_count"] == doc["totals"]["rate_count"]
    # A contract settles in its own currency (RUB), whatever the report's: the same periods within a kopeck
    # per movement of rounding.
    rub = next(c for c in doc["contracts"] if c["template"] == "bank-processor")["settlements"]
    for a, b in zip(kzt["contracts"][0]["settlements"], rub):
        assert abs(Decimal(a["volume"]) - Decimal(b["volume"])) < Decimal(b["volume"]) * Decimal("1e-6")


def test_the_same_report_from_sqlite_and_postgres(sim_stream: Path, sim_db: str, pg_url: str, tmp_path: Path):
    decide_into(sim_stream, pg_url, tmp_path / "home")
    assert report_json(pg_url) == report_json(sim_db)


def test_an_empty_record_gives_an_empty_report(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'empty.db'}"
    out = tmp_path / "r.html"
    r = runner.invoke(app, ["report", "--from", "2026-02-01", "--to", "2026-02-28", "--db", db, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().count("no data in the window") == 7
    doc = report_json(db)
    assert doc["totals"]["movements"] == 0 and doc["alerts"] == []
