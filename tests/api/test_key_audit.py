"""Key changes are people's changes: `qalqan keys create|revoke` land in the audit log."""

from __future__ import annotations

from typer.testing import CliRunner

from qalqan import audit
from qalqan.cli import app
from qalqan.store import open_record


def test_key_changes_are_audited(db_url, monkeypatch) -> None:
    monkeypatch.setenv("QALQAN_DB", db_url)
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--role", "merchant", "--org", "bank1", "--merchant", "M-AIR"])
    assert made.exit_code == 0, made.output
    key_id = made.output.split()[1]
    assert runner.invoke(app, ["keys", "create", "--role", "analyst", "--org", "bank1", "--merchant", "M"]).exit_code \
        == 2  # only a merchant key names a merchant
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    record = open_record(db_url)
    try:
        rows = audit.entries(record, "bank1")
    finally:
        record.close()
    assert [(r["action"], r["target"]) for r in rows] == [("key.create", f"key:{key_id}"),
                                                          ("key.revoke", f"key:{key_id}")]
    assert rows[0]["detail"].startswith("merchant") and rows[0]["actor"].startswith("cli:")
