"""Intel exchange between banks (docs/intel.md): two deployments with their own QALQAN_KEY and one
QALQAN_CONSORTIUM_KEY share a dropper's account as a consortium token in a signed feed, never as
the account number; the importer holds a transfer to it, until the exporter withdraws it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from conftest import ev, transfer
from qalqan.cli import app

runner = CliRunner()
CONSORTIUM = "c0" * 32
X = "40817810099910004444"          # the dropper's account, known to both banks
X_SPACED = "4081 7810 0999 1000 4444"
Y = "40817810055510007777"          # an honest recipient


class Bank:
    def __init__(self, root: Path, name: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home, self.name, self.key, self.mp = root / name, name, key, monkeypatch
        self.n = 0

    def run(self, *args: str) -> tuple[int, str]:
        self.mp.setenv("QALQAN_HOME", str(self.home))
        self.mp.setenv("QALQAN_KEY", self.key)
        self.mp.setenv("QALQAN_CONSORTIUM_KEY", CONSORTIUM)
        r = runner.invoke(app, list(args))
        return r.exit_code, r.output

    def keygen(self) -> str:
        code, text = self.run("intel", "keygen", self.name)
        assert code == 0, text
        return re.findall(r"[0-9a-f]{64}", text)[-1]

    def replay(self, *events: bytes) -> list[dict]:
        self.n += 1
        src, dst = self.home.parent / f"{self.name}-{self.n}.jsonl", self.home.parent / f"{self.name}-{self.n}.out"
        src.write_bytes(b"\n".join(events) + b"\n")
        code, text = self.run("replay", str(src), "-o", str(dst))
        assert code == 0, text
        return [json.loads(line) for line in dst.read_text().splitlines()]

    def export(self, out: Path, *extra: str) -> dict:
        code, text = self.run("intel", "export", "-o", str(out), *extra)
        assert code == 0, text
        return json.loads(out.read_text())

    def record_bytes(self) -> bytes:
        return b"".join(p.read_bytes() for p in self.home.glob("qalqan.db*"))


def codes(decision: dict) -> set[str]:
    return {r["code"] for r in decision["reasons"]}


@pytest.fixture
def banks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Bank, Bank]:
    return Bank(tmp_path, "bank-a", "a1" * 32, monkeypatch), Bank(tmp_path, "bank-b", "b2" * 32, monkeypatch)


def test_a_dropper_confirmed_at_a_is_held_at_b_and_released_when_a_withdraws(
        banks: tuple[Bank, Bank], tmp_path: Path) -> None:
    a, b = banks
    pub_a = a.keygen()
    # bank A pays the dropper; the payment turns out to be fraud
    (d,) = a.replay(transfer(event_id="a-1", to_account=X, ts="2026-02-02T10:00:00Z"))
    a.replay(ev("label", event_id="a-lab-1", ts="2026-02-03T09:00:00Z", target_event_id="a-1", label="fraud"))
    feed1 = a.export(tmp_path / "feed1.json", "--since", "2026-02-01T00:00:00Z")
    a.export(tmp_path / "feed1-again.json", "--since", "2026-02-01T00:00:00Z")  # the same, a moment later
    entries = feed1["feed"]["entries"]
    assert [(e["op"], e["kind"]) for e in entries] == [("add", "account")]
    assert entries[0]["reason"] == "fraud_label" and entries[0]["first_seen"] == "2026-02-03T09:00:00Z"
    assert entries[0]["ttl_s"] == 180 * 86400 and 0 < entries[0]["confidence"] <= 1

    # bank B trusts A's key and imports the feed
    assert b.run("intel", "trust", "add", "bank-a", pub_a)[0] == 0
    code, text = b.run("intel", "import", str(tmp_path / "feed1.json"))
    assert code == 0 and "1 listed" in text, text
    held, other = b.replay(transfer(event_id="b-1", to_account=X_SPACED, ts="2026-02-04T10:00:00Z"),
                           transfer(event_id="b-2", to_account=Y, ts="2026-02-04T10:05:00Z", customer_id="C0000002"))
    assert held["action"] == "hold" and "consortium.recipient" in codes(held), held
    assert other["action"] == "approve", other

    # no raw account number anywhere: A's and B's records, the feed
    for blob, where in ((a.record_bytes(), "A's record"), (b.record_bytes(), "B's record"),
                        ((tmp_path / "feed1.json").read_bytes(), "the feed")):
        assert X.encode() not in blob and X_SPACED.encode() not in blob, where
        assert b"0999100044" not in blob, where

    # the import is logged with its provenance
    code, text = b.run("intel", "imports")
    log = json.loads(text.splitlines()[-1])
    assert log["member"] == "bank-a" and log["feed_id"] == feed1["feed"]["feed_id"] and log["added"] == 1
    assert log["source"].endswith("feed1.json") and len(log["sha256"]) == 64

    # A finds it was a false positive: the label becomes legit; the next feed withdraws X
    a.replay(ev("label", event_id="a-lab-2", ts="2026-02-05T09:00:00Z", target_event_id="a-1", label="legit"))
    feed2 = a.export(tmp_path / "feed2.json", "--since", "2026-02-05T00:00:00Z")
    assert [(e["op"], e["kind"], e["token"]) for e in feed2["feed"]["entries"]] == [
        ("withdraw", "account", entries[0]["token"])]
    code, text = b.run("intel", "import", str(tmp_path / "feed2.json"))
    assert code == 0 and "1 withdrawn" in text, text
    (after,) = b.replay(transfer(event_id="b-3", to_account=X, ts="2026-02-06T10:00:00Z",
                                 customer_id="C0000003", amount="1234.00"))
    assert after["action"] == "approve" and "consortium.recipient" not in codes(after), after

    # the same feed again changes nothing; an older feed after the withdrawal is refused (it would list X again)
    code, text = b.run("intel", "import", str(tmp_path / "feed1.json"))
    assert code == 0 and "imported before" in text, text
    code, text = b.run("intel", "import", str(tmp_path / "feed1-again.json"))
    assert code == 1 and "must not undo a newer withdrawal" in text, text
    (again,) = b.replay(transfer(event_id="b-4", to_account=X, ts="2026-02-06T11:00:00Z",
                                 customer_id="C0000004", amount="4321.00"))
    assert again["action"] == "approve", again


def test_export_withdraws_a_value_named_on_the_command_line(banks: tuple[Bank, Bank], tmp_path: Path) -> None:
    a, b = banks
    pub_a = a.keygen()
    a.replay(ev("intel", event_id="deny-1", ts="2026-02-02T10:00:00Z", customer_id="bank", list="internal",
                entity="account", value=X, op="add"))
    feed1 = a.export(tmp_path / "f1.json")
    assert [(e["op"], e["reason"]) for e in feed1["feed"]["entries"]] == [("add", "deny_list")]
    b.run("intel", "trust", "add", "bank-a", pub_a)
    assert b.run("intel", "import", str(tmp_path / "f1.json"))[0] == 0
    (d,) = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"))
    assert "consortium.recipient" in codes(d)
    feed2 = a.export(tmp_path / "f2.json", "--since", "2030-01-01T00:00:00Z", "--withdraw", f"account:{X_SPACED}")
    listed = feed1["feed"]["entries"][0]["token"]
    assert [(e["op"], e["token"]) for e in feed2["feed"]["entries"]] == [("withdraw", listed)]
    assert X.encode() not in (tmp_path / "f2.json").read_bytes()
    assert b.run("intel", "import", str(tmp_path / "f2.json"))[0] == 0
    (d,) = b.replay(transfer(event_id="b-2", to_account=X, ts="2026-02-04T11:00:00Z", customer_id="C0000005",
                             amount="777.00"))
    assert d["action"] == "approve", d


def _feed_of(bank: Bank, tmp_path: Path, name: str) -> Path:
    bank.replay(transfer(event_id=f"{bank.name}-t", to_account=X, ts="2026-02-02T10:00:00Z"),
                ev("label", event_id=f"{bank.name}-l", ts="2026-02-03T09:00:00Z",
                   target_event_id=f"{bank.name}-t", label="fraud"))
    bank.export(tmp_path / name)
    return tmp_path / name


def test_a_feed_from_an_unknown_or_revoked_signer_is_refused_naming_it(
        banks: tuple[Bank, Bank], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = banks
    c = Bank(tmp_path, "bank-c", "c3" * 32, monkeypatch)
    pub_a = a.keygen()
    c.keygen()
    feed_c = _feed_of(c, tmp_path, "c.json")
    b.run("intel", "trust", "add", "bank-a", pub_a)
    code, text = b.run("intel", "import", str(feed_c))
    assert code == 1 and "bank-c" in text and "not a trusted member" in text, text
    # a feed claiming to be A's but signed by C's key is still C's: refused
    doc = json.loads(feed_c.read_text())
    doc["feed"]["member"] = "bank-a"
    (tmp_path / "c-as-a.json").write_text(json.dumps(doc))
    code, text = b.run("intel", "import", str(tmp_path / "c-as-a.json"))
    assert code == 1 and "not a trusted member" in text, text
    # A's key revoked: A's feeds are refused, naming A and why
    feed_a = _feed_of(a, tmp_path, "a.json")
    assert b.run("intel", "trust", "revoke", "bank-a", "--reason", "left the consortium")[0] == 0
    code, text = b.run("intel", "import", str(feed_a))
    assert code == 1 and "bank-a" in text and "revoked" in text and "left the consortium" in text, text
    (d,) = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"))
    assert "consortium.recipient" not in codes(d)


@pytest.mark.parametrize("tamper", ["token", "ttl", "withdraw", "add_entry", "signature"])
def test_a_tampered_feed_is_refused(banks: tuple[Bank, Bank], tmp_path: Path, tamper: str) -> None:
    a, b = banks
    b.run("intel", "trust", "add", "bank-a", a.keygen())
    doc = json.loads(_feed_of(a, tmp_path, "a.json").read_text())
    entry = doc["feed"]["entries"][0]
    if tamper == "token":
        entry["token"] = "0" * 24
    elif tamper == "ttl":
        entry["ttl_s"] = 3650 * 86400
    elif tamper == "withdraw":
        entry["op"] = "withdraw"
    elif tamper == "add_entry":
        doc["feed"]["entries"].append({**entry, "token": "f" * 24})
    else:
        doc["signature"] = doc["signature"][:-2] + ("00" if doc["signature"][-2:] != "00" else "11")
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    code, text = b.run("intel", "import", str(tmp_path / "bad.json"))
    assert code == 1 and "signature" in text and "refused" in text, text
    (d,) = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"))
    assert "consortium.recipient" not in codes(d)


def test_a_member_withdraws_only_what_it_listed(
        banks: tuple[Bank, Bank], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A poisoned feed: a member 'withdrawing' another's entry changes nothing; an entry two
    members listed stays until both withdraw it."""
    a, b = banks
    c = Bank(tmp_path, "bank-c", "c3" * 32, monkeypatch)
    b.run("intel", "trust", "add", "bank-a", a.keygen())
    b.run("intel", "trust", "add", "bank-c", c.keygen())
    assert b.run("intel", "import", str(_feed_of(a, tmp_path, "a.json")))[0] == 0
    c.export(tmp_path / "c-w.json", "--withdraw", f"account:{X}")
    code, text = b.run("intel", "import", str(tmp_path / "c-w.json"))
    assert code == 0 and "1 ignored" in text, text
    (d,) = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"))
    assert "consortium.recipient" in codes(d)
    # C lists X too, then A withdraws: C's listing keeps it
    assert b.run("intel", "import", str(_feed_of(c, tmp_path, "c.json")))[0] == 0
    a.export(tmp_path / "a-w.json", "--since", "2030-01-01T00:00:00Z", "--withdraw", f"account:{X}")
    code, text = b.run("intel", "import", str(tmp_path / "a-w.json"))
    assert code == 0 and "1 withdrawn" in text, text
    (d,) = b.replay(transfer(event_id="b-2", to_account=X, ts="2026-02-04T11:00:00Z", customer_id="C0000007",
                             amount="321.00"))
    assert "consortium.recipient" in codes(d), d


def test_a_raw_identifier_in_a_feed_is_refused(banks: tuple[Bank, Bank], tmp_path: Path) -> None:
    """A member's feed carrying an account number where the token goes is refused, never stored."""
    a, b = banks
    a.keygen()
    from qalqan.intel import feed as feeds

    member = feeds.load_member(a.home)
    doc = member.sign({"format": feeds.FORMAT, "feed_id": "bank-a-raw", "member": "bank-a", "key": member.public,
                       "issued_at": "2026-02-03T00:00:00Z", "since": None,
                       "entries": [{"op": "add", "kind": "account", "token": X, "reason": "fraud_label",
                                    "confidence": 0.9, "first_seen": "2026-02-03T00:00:00Z",
                                    "last_seen": "2026-02-03T00:00:00Z", "ttl_s": 86400}]})
    (tmp_path / "raw.json").write_text(json.dumps(doc))
    b.run("intel", "trust", "add", "bank-a", member.public)
    code, text = b.run("intel", "import", str(tmp_path / "raw.json"))
    assert code == 1 and "entries[0].token" in text and "never a raw identifier" in text, text
    assert X.encode() not in b.record_bytes()


def test_without_the_consortium_key_nothing_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No QALQAN_CONSORTIUM_KEY: no consortium token on the stored event, and export says why it cannot."""
    from qalqan.config import from_env
    from qalqan.engine import Engine

    monkeypatch.delenv("QALQAN_CONSORTIUM_KEY", raising=False)
    e = Engine(from_env())
    e.decide(transfer(event_id="n-1", to_account=X, extra_field="x"))
    e.commit()
    stored = msgspec.json.decode(e.record.event_body("n-1"))
    assert "qalqan_cx" not in (stored.get("extra") or {})
    e.close()
    monkeypatch.setenv("QALQAN_CONSORTIUM_KEY", CONSORTIUM)
    e = Engine(from_env())
    # a sent qalqan_cx is dropped: only qalqan writes it
    e.decide(transfer(event_id="n-2", to_account=X, qalqan_cx=[["to_account", "account", "0" * 24]]))
    e.commit()
    cx = msgspec.json.decode(e.record.event_body("n-2"))["extra"]["qalqan_cx"]
    assert cx[0][:2] == ["to_account", "account"] and cx[0][2] != "0" * 24
    assert cx[0][2] != e.tokenizer.token(X)  # the consortium's token is not the bank's own
    e.close()


def test_the_consortium_key_is_not_the_banks_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """A member's own tokens stay under a key no other member holds."""
    from qalqan.config import ConfigError, from_env

    monkeypatch.setenv("QALQAN_KEY", "ab" * 32)
    monkeypatch.setenv("QALQAN_CONSORTIUM_KEY", "AB" * 32)
    with pytest.raises(ConfigError, match="QALQAN_CONSORTIUM_KEY: must not be QALQAN_KEY"):
        from_env()
    monkeypatch.setenv("QALQAN_CONSORTIUM_KEY", CONSORTIUM)
    assert from_env().consortium_key == bytes.fromhex(CONSORTIUM)


def test_a_resent_event_is_the_same_event_with_the_consortium_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consortium's tokens are part of the stored event: a resend is a duplicate, not a conflict,
    and another body under the id is still a conflict."""
    from qalqan.config import from_env
    from qalqan.engine import Engine
    from qalqan.events import EventConflict

    monkeypatch.setenv("QALQAN_CONSORTIUM_KEY", CONSORTIUM)
    e = Engine(from_env())
    first = e.decide(transfer(event_id="r-1", to_account=X))
    e.commit()
    again = e.decide(transfer(event_id="r-1", to_account=X))
    assert again.duplicate and again.decision_json == first.decision_json
    with pytest.raises(EventConflict):
        e.decide(transfer(event_id="r-1", to_account=Y))
    e.close()


def test_a_member_pulls_the_feed_over_http_with_an_etag(banks: tuple[Bank, Bank], tmp_path: Path) -> None:
    """GET /v1/intel/feed: the signed feed B imports; 304 for an unchanged one; an auditor's or admin's
    key only; a bad `since` is 422; more than PULLS_PER_MINUTE pulls a minute are 429."""
    import asyncio

    import httpx

    from qalqan.api import create_app
    from qalqan.api.intel import PULLS_PER_MINUTE
    from qalqan.api.keys import KeyRing
    from qalqan.config import from_env
    from qalqan.engine import Engine

    a, b = banks
    pub_a = a.keygen()
    a.replay(transfer(event_id="a-1", to_account=X, ts="2026-02-02T10:00:00Z"),
             ev("label", event_id="a-lab-1", ts="2026-02-03T09:00:00Z", target_event_id="a-1", label="fraud"))
    a.run("intel", "--help")  # A's environment
    ring = KeyRing.load(a.home)
    auditor = {"Authorization": f"Bearer {ring.create('auditor', 'default', 'bank-b-puller')[1]}"}
    integrator = {"Authorization": f"Bearer {ring.create('integrator', 'default', 'int')[1]}"}
    engine = Engine(from_env())

    async def run() -> list[httpx.Response]:
        app = create_app(engine, KeyRing.load(a.home))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://q", timeout=60) as c:
            got = [await c.get("/v1/intel/feed", headers=auditor)]
            got.append(await c.get("/v1/intel/feed", headers={**auditor, "If-None-Match": got[0].headers["etag"]}))
            got.append(await c.get("/v1/intel/feed", headers=integrator))
            got.append(await c.get("/v1/intel/feed", params={"since": "yesterday"}, headers=auditor))
            month13 = await c.get("/v1/intel/feed", params={"since": "2026-13-45T10:00Z"}, headers=auditor)
            assert month13.status_code == 422, month13.text
            for _ in range(PULLS_PER_MINUTE):
                got.append(await c.get("/v1/intel/feed", headers=auditor))
            return got

    try:
        first, unchanged, wrong_role, bad_since, *rest = asyncio.run(run())
    finally:
        engine.close()
    assert first.status_code == 200 and first.headers["etag"], first.text
    assert X.encode() not in first.content
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == first.headers["etag"]
    assert wrong_role.status_code == 403
    assert bad_since.status_code == 422 and bad_since.json()["field"] == "since"
    assert rest[-1].status_code == 429 and int(rest[-1].headers["retry-after"]) >= 1
    (tmp_path / "pulled.json").write_bytes(first.content)
    b.run("intel", "trust", "add", "bank-a", pub_a)
    code, text = b.run("intel", "import", str(tmp_path / "pulled.json"))
    assert code == 0 and "1 listed" in text, text
    (d,) = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"))
    assert d["action"] == "hold" and "consortium.recipient" in codes(d), d


def test_a_revoked_member_is_delisted_on_request(
        banks: tuple[Bank, Bank], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`trust revoke --delist`: what only the revoked member listed leaves the list; what another
    member listed too stays."""
    a, b = banks
    c = Bank(tmp_path, "bank-c", "c3" * 32, monkeypatch)
    b.run("intel", "trust", "add", "bank-a", a.keygen())
    b.run("intel", "trust", "add", "bank-c", c.keygen())
    assert b.run("intel", "import", str(_feed_of(a, tmp_path, "a.json")))[0] == 0
    c.replay(transfer(event_id="c-t2", to_account=Y, ts="2026-02-02T10:00:00Z"),
             ev("label", event_id="c-l2", ts="2026-02-03T09:00:00Z", target_event_id="c-t2", label="fraud"))
    assert b.run("intel", "import", str(_feed_of(c, tmp_path, "c.json")))[0] == 0  # C lists X and Y
    code, text = b.run("intel", "trust", "revoke", "bank-c", "--reason", "key leaked", "--delist")
    assert code == 0 and "2 listings of bank-c ended" in text, text
    to_x, to_y = b.replay(transfer(event_id="b-1", to_account=X, ts="2026-02-04T10:00:00Z"),
                          transfer(event_id="b-2", to_account=Y, ts="2026-02-04T10:01:00Z", customer_id="C0000009"))
    assert "consortium.recipient" in codes(to_x), to_x      # A listed it too
    assert "consortium.recipient" not in codes(to_y), to_y  # only C did
