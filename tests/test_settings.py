"""Promises of the README's Configuration table that a wrong line would break silently: production
mode's refusals, and a bad rule pack on SIGHUP leaving the running rules in place.

And one test per setting: every ``QALQAN_*`` setting read anywhere in ``src/qalqan`` has a row in
the README's table (and every row is a setting read), takes effect, and a bad value is refused
naming it. ``PROOFS`` maps each setting to the tests that show it — here, or elsewhere when the
setting is already proven end to end there (docs/testing.md prints the same map)."""

from __future__ import annotations

import ast
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_http import serving

from conftest import payment, transfer
from qalqan.config import ConfigError, from_env

ROOT = Path(__file__).resolve().parents[1]


def test_production_refuses_an_embedded_record_and_the_test_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QALQAN_MODE", "production")
    monkeypatch.setenv("QALQAN_KEY", "ab" * 32)
    monkeypatch.delenv("QALQAN_CLOCK_START")
    with pytest.raises(ConfigError, match="QALQAN_DB"):  # no silent SQLite in a production deployment
        from_env()
    monkeypatch.setenv("QALQAN_DB", "postgresql://postgres@127.0.0.1:5432/postgres")
    assert from_env().production
    monkeypatch.setenv("QALQAN_CLOCK_START", "2026-02-02T12:00:00Z")
    with pytest.raises(ConfigError, match="QALQAN_CLOCK_START"):
        from_env()


# The whole-number settings (config._int_env) and the field of Settings each one sets.
WHOLE = {"QALQAN_COMMIT_EVERY": "commit_every", "QALQAN_SNAPSHOT_EVERY": "snapshot_every",
         "QALQAN_MAX_BODY": "max_body", "QALQAN_MAX_BATCH": "max_batch", "QALQAN_MAX_INFLIGHT": "max_inflight",
         "QALQAN_RECORD_BUDGET_MS": "record_budget_ms", "QALQAN_MAX_SKEW": "max_skew_s",
         "QALQAN_MAX_LEAD": "max_lead_s", "QALQAN_MODEL_BUDGET_MS": "model_budget_ms",
         "QALQAN_MODEL_COOLDOWN_S": "model_cooldown_s", "QALQAN_DECIDE_BUDGET_MS": "decide_budget_ms",
         "QALQAN_REVIEW_SLA": None}  # the default deadline's seconds: test_review_sla_sets_the_default_deadline

BAD = [(name, value, why) for name in WHOLE for value, why in (("0", "at least 1"), ("ten", "whole number"))] + [
    ("QALQAN_CLOCK_START", "yesterday", "RFC 3339"),
    ("QALQAN_CLOCK_START", "2026-02-02T12:00:00", "time zone"),
    ("QALQAN_KEY", "not hex", "hex"),
    ("QALQAN_KEY", "ab" * 16, "at least 32 bytes"),
    ("QALQAN_MODE", "prod", "production"),  # a typo must not start a production deployment in embedded mode
    ("QALQAN_SQLITE_SYNC", "FUL", "NORMAL or FULL"),  # never a silent downgrade of durability
    ("QALQAN_RULES", "/nonexistent/rules", "not a folder"),
    ("QALQAN_RULE_PARAMS", "/nonexistent/params.yaml", "cannot read"),
    ("QALQAN_DEADLINES", "/nonexistent/deadlines.yaml", "cannot read"),
    ("QALQAN_FALLBACKS", "/nonexistent/fallbacks.yaml", "QALQAN_FALLBACKS"),
    ("QALQAN_WEBHOOK_URL", "ftp://example.org/hook", "http"),
    ("QALQAN_WEBHOOK_SECRET", "short", "without QALQAN_WEBHOOK_URL"),
    ("QALQAN_CONSORTIUM_KEY", "not hex", "hex"),
    ("QALQAN_CONSORTIUM_KEY", "ab" * 16, "at least 32 bytes"),
]


@pytest.mark.parametrize("name,value,field", BAD, ids=[f"{n}={v}" for n, v, _ in BAD])
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        from_env()
    assert name in str(refused.value) and field in str(refused.value)


def test_a_home_that_is_a_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home").write_text("")
    monkeypatch.setenv("QALQAN_HOME", str(tmp_path / "home"))
    with pytest.raises(ConfigError, match="QALQAN_HOME: .* is not a folder"):  # not a FileExistsError traceback
        from_env()


def test_an_unsupported_record_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qalqan.engine import Engine
    from qalqan.store import StoreError

    monkeypatch.setenv("QALQAN_DB", "mysql://root@127.0.0.1/qalqan")
    with pytest.raises(StoreError, match="QALQAN_DB: unsupported URL"):
        Engine(from_env())


def test_a_bad_auth_setting_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QALQAN_AUTH is read by ``serve`` (cli.py): neither on nor off exits 2 naming it, before any port is
    opened; on without a key exits 2 saying how to make one."""
    from typer.testing import CliRunner

    from qalqan.cli import app

    monkeypatch.setenv("QALQAN_DB", f"sqlite:///{tmp_path / 'a.db'}")
    for value, said in (("maybe", "QALQAN_AUTH: must be on or off"), ("on", "QALQAN_AUTH=on but no API key")):
        monkeypatch.setenv("QALQAN_AUTH", value)
        run = CliRunner().invoke(app, ["serve", "--port", "1"])
        assert run.exit_code == 2 and said in run.output.replace("\n", " "), run.output


@pytest.mark.parametrize("name", sorted(n for n, f in WHOLE.items() if f))
def test_a_whole_number_setting_lands_in_its_field(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The field each consumer reads (its behaviour is proven by the tests ``PROOFS`` names)."""
    default = getattr(from_env(), WHOLE[name])
    monkeypatch.setenv(name, str(default + 7))
    assert getattr(from_env(), WHOLE[name]) == default + 7


def test_home_holds_the_key_and_the_embedded_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qalqan.engine import Engine

    monkeypatch.setenv("QALQAN_HOME", str(tmp_path / "elsewhere"))
    settings = from_env()
    assert settings.home == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere" / "key").read_text() == settings.key.hex()
    Engine(settings).close()
    assert (tmp_path / "elsewhere" / "qalqan.db").exists()
    monkeypatch.setenv("QALQAN_DB", f"sqlite:///{tmp_path / 'chosen.db'}")  # QALQAN_DB picks another record
    Engine(from_env()).close()
    assert (tmp_path / "chosen.db").exists()
    monkeypatch.setenv("QALQAN_KEY", "cd" * 32)  # QALQAN_KEY wins over the key file
    assert from_env().key == bytes.fromhex("cd" * 32)


@pytest.mark.parametrize("value,pragma", [(None, 1), ("NORMAL", 1), ("full", 2)])
def test_sqlite_sync_full_syncs_every_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None,
                                            pragma: int) -> None:
    from qalqan.store import open_record

    if value is not None:
        monkeypatch.setenv("QALQAN_SQLITE_SYNC", value)
    from_env()  # accepted
    record: Any = open_record(f"sqlite:///{tmp_path / 's.db'}")
    try:
        assert record.conn.execute("PRAGMA synchronous").fetchone()[0] == pragma  # 1 NORMAL, 2 FULL
    finally:
        record.close()


def test_sqlite_sync_refused_by_the_record_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qalqan.store import StoreError, open_record

    monkeypatch.setenv("QALQAN_SQLITE_SYNC", "OFF")
    with pytest.raises(StoreError, match="QALQAN_SQLITE_SYNC"):
        open_record(f"sqlite:///{tmp_path / 's.db'}")


def test_review_sla_sets_the_default_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    assert from_env().deadlines.resolve("default", "transfer", None).after_s == 4 * 3600
    monkeypatch.setenv("QALQAN_REVIEW_SLA", "600")
    d = from_env().deadlines
    assert d.resolve("default", "transfer", None).after_s == 600
    assert d.resolve("default", "payment", "M1").after_s == 900  # a card payment keeps its own 15 minutes


def test_rule_params_reach_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "p.yaml").write_text("od2506: {reading_1_10: press}\n")
    monkeypatch.setenv("QALQAN_RULE_PARAMS", str(tmp_path / "p.yaml"))
    assert from_env().rule_params == {"od2506": {"reading_1_10": "press"}}
    (tmp_path / "p.yaml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="QALQAN_RULE_PARAMS: .* must map each pack"):
        from_env()


def test_max_skew_and_max_lead_move_the_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """QALQAN_MAX_SKEW on a live engine (its clock at the tests' noon), QALQAN_MAX_LEAD in replay."""
    from qalqan.engine import Engine
    from qalqan.events import EventError

    monkeypatch.setenv("QALQAN_MAX_SKEW", "3600")
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'live.db'}"))
    try:
        e.use_clock(e.settings.server_clock())
        e.decide(transfer(event_id="in-50-min", ts="2026-02-02T12:50:00Z"))  # past the default 300 s, within 3600
        with pytest.raises(EventError) as ahead:
            e.decide(transfer(event_id="in-70-min", ts="2026-02-02T13:10:00Z"))
        assert ahead.value.field == "ts" and "3600 s ahead" in str(ahead.value)
    finally:
        e.close()
    monkeypatch.setenv("QALQAN_MAX_LEAD", "86400")
    e = Engine(from_env(db_url=f"sqlite:///{tmp_path / 'replay.db'}"))
    try:
        e.decide(transfer(event_id="first", ts="2026-02-02T10:00:00Z"))
        e.decide(transfer(event_id="next-day", ts="2026-02-03T09:00:00Z"))
        with pytest.raises(EventError) as lead:
            e.decide(transfer(event_id="two-days-on", ts="2026-02-05T10:00:00Z"))
        assert lead.value.field == "ts" and "86400 s ahead" in str(lead.value)
    finally:
        e.close()


def test_model_budget_and_cool_down_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An 80 ms model is late under the default 50 ms budget and on time under QALQAN_MODEL_BUDGET_MS=100;
    QALQAN_MODEL_COOLDOWN_S=2 keeps the circuit open 2 s, not 30 (a fake clock: nothing sleeps)."""
    from test_model_budget import MS, Clock, Slow

    from qalqan.engine import Engine

    def live(db: str) -> tuple[Engine, Slow, Clock]:
        clock = Clock()
        model = Slow(clock, 80 * MS)
        e = Engine(from_env(db_url=f"sqlite:///{tmp_path / db}"), model=model)
        e.use_clock(e.settings.server_clock())
        e.guard.clock = clock
        return e, model, clock

    monkeypatch.setenv("QALQAN_MODEL_BUDGET_MS", "100")
    e, model, _ = live("on-time.db")
    try:
        assert "fallback" not in e.decide(payment(event_id="p1")).decision_json.decode()
    finally:
        e.close()
    monkeypatch.delenv("QALQAN_MODEL_BUDGET_MS")
    monkeypatch.setenv("QALQAN_MODEL_COOLDOWN_S", "2")
    e, model, clock = live("late.db")
    try:
        assert b"late: 80.0 ms" in e.decide(payment(event_id="p2")).decision_json
        clock.now += 1_500 * MS
        assert b"skipped" in e.decide(payment(event_id="p3")).decision_json and model.calls == 1
        clock.now += 1_000 * MS  # 2.5 s after the late answer: the cool-down of 2 s is over, a trial call
        e.decide(payment(event_id="p4"))
        assert model.calls == 2
    finally:
        e.close()


# Each setting read in src/qalqan → the tests showing it takes effect and that a bad value is refused
# naming it. "here" is this file.
PROOFS: dict[str, list[str]] = {
    "QALQAN_HOME": [
        "here::test_home_holds_the_key_and_the_embedded_record",
        "here::test_a_home_that_is_a_file_is_named",
        "tests/test_privacy.py::test_embedded_key_is_created_once",
    ],
    "QALQAN_DB": [
        "here::test_home_holds_the_key_and_the_embedded_record",
        "here::test_an_unsupported_record_is_named",
        "here::test_production_refuses_an_embedded_record_and_the_test_clock",
    ],
    "QALQAN_KEY": [
        "here::test_home_holds_the_key_and_the_embedded_record",
        "here::test_a_bad_setting_is_named",
        "tests/test_privacy.py::test_production_refuses_without_key",
        "tests/test_privacy.py::test_tokens_are_keyed_and_normalised",
    ],
    "QALQAN_MODE": [
        "here::test_production_refuses_an_embedded_record_and_the_test_clock",
        "here::test_a_bad_setting_is_named",
        "tests/test_privacy.py::test_production_refuses_without_key",
    ],
    "QALQAN_SQLITE_SYNC": [
        "here::test_sqlite_sync_full_syncs_every_commit",
        "here::test_a_bad_setting_is_named",
        "here::test_sqlite_sync_refused_by_the_record_itself",
    ],
    "QALQAN_AUTH": [
        "tests/test_http.py::test_api_keys_and_roles",
        "here::test_a_bad_auth_setting_is_named",
    ],
    "QALQAN_RULES": [
        "here::test_a_bad_pack_on_sighup_keeps_the_running_rules",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_RULE_PARAMS": [
        "here::test_rule_params_reach_the_settings",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_STATE": [
        "tests/test_state_redis.py::test_restart_continues_from_redis_and_decides_as_an_uninterrupted_run",
        "tests/test_state_redis.py::test_without_qalqan_state_there_is_no_state_backend",
        "tests/test_state_redis.py::test_an_unsupported_state_url_is_refused_naming_the_setting",
    ],
    "QALQAN_REVIEW_SLA": [
        "here::test_review_sla_sets_the_default_deadline",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_DEADLINES": [
        "tests/api/test_grey_deadlines.py::test_a_merchants_own_default_and_an_organisations_contract_override_the_channel",  # noqa: E501
        "tests/api/test_deadlines_serve.py::test_serve_closes_a_grey_payment_on_its_clock_and_tells_the_receiver",
        "tests/api/test_grey_deadlines.py::test_a_bad_deadlines_file_is_refused_naming_the_setting_and_the_entry",
        "tests/api/test_grey_deadlines.py::test_a_missing_deadlines_file_is_refused",
    ],
    "QALQAN_WEBHOOK_URL": [
        "tests/api/test_deadlines_serve.py::test_serve_closes_a_grey_payment_on_its_clock_and_tells_the_receiver",
        "tests/api/test_webhooks.py::test_bad_webhook_settings_are_refused_by_name",
        "tests/api/test_webhooks.py::test_production_sends_webhooks_over_https_only",
    ],
    "QALQAN_WEBHOOK_SECRET": [
        "tests/api/test_deadlines_serve.py::test_serve_closes_a_grey_payment_on_its_clock_and_tells_the_receiver",
        "tests/api/test_webhooks.py::test_bad_webhook_settings_are_refused_by_name",
    ],
    "QALQAN_MAX_BODY": [
        "tests/security/test_bad_input.py::test_a_declared_body_over_the_limit_is_413_before_any_of_it_is_read",
        "tests/security/test_bad_input.py::test_the_front_refuses_a_large_body_with_413_and_bad_bytes_with_422",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_MAX_BATCH": [
        "tests/security/test_bad_input.py::test_a_batch_over_the_count_limit_is_413_naming_it_and_stores_nothing",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_MAX_INFLIGHT": [
        "tests/security/test_admission.py::test_past_the_bound_a_fast_503_and_back_to_normal_at_once",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_RECORD_BUDGET_MS": [
        "tests/faults/test_record_outage.py::test_record_lost_under_load_then_back",
        "here::test_a_whole_number_setting_lands_in_its_field",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_MAX_SKEW": [
        "here::test_max_skew_and_max_lead_move_the_refusal",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_MAX_LEAD": [
        "here::test_max_skew_and_max_lead_move_the_refusal",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_CLOCK_START": [
        "tests/security/test_tenancy.py::test_deadlines_fire_on_the_servers_clock_without_an_event",
        "here::test_production_refuses_an_embedded_record_and_the_test_clock",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_JURISDICTIONS": [
        "tests/rules/test_jurisdiction.py::test_a_kazakh_clients_call_transfer_gets_the_kz_block_a_russian_clients_the_art8_hold",
        "tests/rules/test_jurisdiction.py::test_a_bad_jurisdictions_file_is_refused_naming_the_setting",
    ],
    "QALQAN_FALLBACKS": [
        "tests/test_fallback.py::test_a_fallback_file_overrides_named_channels",
        "tests/test_fallback.py::test_a_bad_fallback_file_is_named",
    ],
    "QALQAN_MODEL_BUDGET_MS": [
        "here::test_model_budget_and_cool_down_come_from_the_environment",
        "tests/test_model_budget.py::test_the_embedded_server_keeps_the_budget_and_counts_it",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_MODEL_COOLDOWN_S": [
        "here::test_model_budget_and_cool_down_come_from_the_environment",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_DECIDE_BUDGET_MS": [
        "tests/stream/test_front.py::test_a_front_whose_worker_is_gone_answers_the_fallback_then_the_worker_decides",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_CONSORTIUM_KEY": [
        "tests/test_intel.py::test_a_dropper_confirmed_at_a_is_held_at_b_and_released_when_a_withdraws",
        "tests/test_intel.py::test_without_the_consortium_key_nothing_changes",
        "tests/test_intel.py::test_the_consortium_key_is_not_the_banks_own",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_COMMIT_EVERY": [
        "tests/test_replay_durability.py::test_sigkill_mid_replay_leaves_no_decision_the_record_lacks",
        "here::test_a_whole_number_setting_lands_in_its_field",
        "here::test_a_bad_setting_is_named",
    ],
    "QALQAN_SNAPSHOT_EVERY": [
        "tests/test_restart.py::test_sigkill_mid_stream_then_restart_gives_identical_decisions",
        "here::test_a_whole_number_setting_lands_in_its_field",
        "here::test_a_bad_setting_is_named",
    ],
}


def settings_read_in_src() -> dict[str, set[str]]:
    """Every ``QALQAN_*`` name written as a whole string in src/qalqan's code (how a setting is read:
    ``os.environ.get("QALQAN_X")``, ``_int_env("QALQAN_X", …)``), with the modules reading it.
    Docstrings and messages merely mention names; they are longer strings and do not count."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / "src" / "qalqan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    re.fullmatch(r"QALQAN_[A-Z0-9_]+", node.value):
                found.setdefault(node.value, set()).add(str(path.relative_to(ROOT / "src")))
    return found


def readme_settings() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(QALQAN_[A-Z0-9_]+)` \|", table, flags=re.M)


def test_every_setting_read_in_src_has_a_row_in_the_readme() -> None:
    read = settings_read_in_src()
    assert len(read) >= 26, read  # the scan itself works
    missing = sorted(set(read) - set(readme_settings()))
    assert not missing, f"read in src/ but not in README's Configuration table: {missing}"


def test_every_row_of_the_readme_is_a_setting_read_in_src() -> None:
    rows = readme_settings()
    assert len(rows) == len(set(rows)), "a setting has two rows"
    stale = sorted(set(rows) - set(settings_read_in_src()))
    assert not stale, f"README's table documents settings nothing reads: {stale}"


def test_every_setting_read_in_src_has_its_proofs() -> None:
    """A new setting fails here until it is given a test that it takes effect and one that a bad value
    is refused naming it; each test named must exist."""
    assert sorted(PROOFS) == sorted(settings_read_in_src())
    for name, tests in PROOFS.items():
        for node in tests:
            file, func = node.split("::")
            path = Path(__file__) if file == "here" else ROOT / file
            defined = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
            assert func in defined, f"{name}: {node} does not exist"
        assert any(n.startswith("here::test_a_bad") or "refus" in n or "bad" in n or "named" in n for n in tests), \
            f"{name}: no test of a bad value"


def test_a_bad_pack_on_sighup_keeps_the_running_rules(tmp_path: Path) -> None:
    from qalqan.rules.ruleset import PACKS_DIR

    rules = tmp_path / "rules"
    shutil.copytree(PACKS_DIR, rules)
    with serving(QALQAN_DB=f"sqlite:///{tmp_path / 'r.db'}", QALQAN_RULES=str(rules)) as (base, proc), \
            httpx.Client(base_url=base, timeout=10) as c:
        before = c.get("/healthz").json()["versions"]["rules"]
        (rules / "broken.yaml").write_text("pack: broken\nrules:\n  - id: x\n    when: \"amount_base >\"\n"
                                           "    action: decline\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)  # the reload is tried and refused; nothing to wait for but its attempt
        assert c.get("/healthz").json()["versions"]["rules"] == before
        d = c.post("/v1/events", content=transfer(event_id="after-bad")).json()
        assert d["action"] == "approve" and d["versions"]["rules"] == before  # still decided, by the old set
        (rules / "broken.yaml").write_text("pack: broken\nrules:\n  - id: x\n    when: \"amount_base > rub(10)\"\n"
                                           "    action: review\n")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while c.get("/healthz").json()["versions"]["rules"] == before:  # a good pack then comes in
            assert time.monotonic() < deadline, "the mended pack never came in"
            time.sleep(0.05)
        assert c.post("/v1/events", content=transfer(event_id="after-good")).json()["action"] == "review"
