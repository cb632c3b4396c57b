"""Promises of the README's Configuration table that a wrong line would break silently: production
mode's refusals, and a bad rule pack on SIGHUP leaving the running rules in place."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import httpx
import pytest
from test_http import serving

from conftest import transfer
from qalqan.config import ConfigError, from_env


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


@pytest.mark.parametrize("name,value,field", [("QALQAN_MAX_SKEW", "0", "at least 1"),
                                              ("QALQAN_MAX_INFLIGHT", "many", "whole number"),
                                              ("QALQAN_CLOCK_START", "yesterday", "RFC 3339"),
                                              ("QALQAN_CLOCK_START", "2026-02-02T12:00:00", "time zone")])
def test_a_bad_setting_is_named(monkeypatch: pytest.MonkeyPatch, name: str, value: str, field: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        from_env()
    assert name in str(refused.value) and field in str(refused.value)


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
