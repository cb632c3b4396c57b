"""Signed receipts: issued from the record for approved payments and transfers only; any change to
one shows; keys rotate and old receipts keep verifying; over HTTP (a real server), on the public
page and from the CLI."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from test_http import serving
from typer.testing import CliRunner

from conftest import ev, payment, transfer
from qalqan import config
from qalqan.cli import app
from qalqan.engine import Engine
from qalqan.receipts.code import Payload, decode_code, encode_payload, to_code
from qalqan.receipts.issue import NoReceipt, Verifier, issue
from qalqan.receipts.keys import ReceiptKeyError, ReceiptKeys

ACCOUNT = "KZ86125KZT5004100100"
PHONE = "+7 701 000 00 00"
runner = CliRunner()


def kzt_payment(event_id: str = "pay-1", **kw: object) -> bytes:
    return payment(event_id=event_id, ts="2026-02-02T14:02:00+05:00", amount="25000", currency="KZT",
                   merchant_id="M-100245", **kw)


def kzt_transfer(event_id: str = "tr-1", **kw: object) -> bytes:
    base = dict(event_id=event_id, ts="2026-02-02T14:02:00+05:00", rail="sbp", amount="25000.50", currency="KZT",
                to_account=ACCOUNT, counterparty_id="77010000000")
    base.update(kw)
    return transfer(**base)


def blacklist(account: str) -> bytes:
    return ev("intel", customer_id="regulator", list="cbr_fincert", entity="account", value=account, op="add")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(config.from_env(db_url=f"sqlite:///{tmp_path / 'r.db'}"))
    yield e
    e.close()


def decided(e: Engine, *events: bytes) -> list[str]:
    actions = [e.decide(raw) for raw in events]
    e.commit()
    return [o.decision.action if o.decision else "context" for o in actions]


def test_round_trip_says_what_a_seller_checks(engine: Engine) -> None:
    assert decided(engine, kzt_payment(), kzt_transfer()) == ["approve", "approve"]
    ring = ReceiptKeys.load(engine.settings.home)
    verifier = Verifier(engine.settings, ring)

    pay = issue(engine, ring, "pay-1")
    assert set(pay.code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") and len(pay.code) < 200
    assert issue(engine, ring, "pay-1").code == pay.code  # Ed25519 is deterministic: the same receipt
    v = verifier.code(pay.code)
    assert v.genuine and v.to_you is None
    assert v.text == "genuine: 25,000 KZT to merchant M-100245 at 14:02 on 2026-02-02 (UTC+05:00)"
    assert verifier.code(pay.code, "M-100245").text == "genuine: 25,000 KZT to you at 14:02 on 2026-02-02 (UTC+05:00)"
    other = verifier.code(pay.code, "M-999")
    assert other.genuine and other.to_you is False and "NOT to you" in other.text
    assert v.receipt == pay.as_json() and verifier.receipt(pay.as_json()).genuine

    tr = issue(engine, ring, "tr-1")
    doc = tr.as_json()
    assert doc["amount"] == "25000.50" and doc["ts"] == "2026-02-02T14:02:00+05:00"
    assert ACCOUNT not in json.dumps(doc) and "7701" not in json.dumps(doc)  # refs, not the account
    assert verifier.code(tr.code).genuine
    for mine in (ACCOUNT, f"  {ACCOUNT} ", PHONE):  # the account, or the phone SBP sent to
        assert verifier.code(tr.code, mine).to_you is True, mine
    assert verifier.code(tr.code, "KZ00000000000000000").to_you is False
    # A pasted verification link, lower case, with spaces: the same receipt.
    assert verifier.code(f"https://bank.example/verify?c={tr.code}").genuine
    assert verifier.code(" ".join(tr.code.lower()[i:i + 4] for i in range(0, len(tr.code), 4))).genuine


def test_any_tampering_is_not_genuine(engine: Engine) -> None:
    decided(engine, kzt_payment(), kzt_transfer())
    ring = ReceiptKeys.load(engine.settings.home)
    verifier = Verifier(engine.settings, ring)
    for eid in ("pay-1", "tr-1"):
        issued = issue(engine, ring, eid)
        raw, sig = decode_code(issued.code)  # type: ignore[misc]
        p = msgspec.msgpack.decode(raw, type=Payload)
        for change in ({"amount": "250000"}, {"amount": "25000.0"}, {"ts": p.ts + 60}, {"tz": 0},
                       {"currency": "USD"}, {"event_id": "pay-2"}, {"merchant": "M-666"},
                       {"refs": bytes(8)}, {"type": "t" if p.type == "p" else "p"}):
            forged = to_code(encode_payload(msgspec.structs.replace(p, **change)), sig)
            v = verifier.code(forged)
            assert not v.genuine and v.text.startswith("not genuine"), change
        for i in range(len(raw) + len(sig)):  # every single byte, payload and signature alike
            whole = bytearray(raw + sig)
            whole[i] ^= 0x01
            assert not verifier.code(to_code(bytes(whole[:-64]), bytes(whole[-64:]))).genuine, i
        doc = issued.as_json()
        for field, value in (("amount", "99999"), ("ts", "2026-02-02T14:03:00+05:00"), ("event_id", "x"),
                             ("payee", {"merchant_id": "M-666"} if eid == "pay-1" else {"refs": ["00" * 8]})):
            assert not verifier.receipt({**doc, field: value}).genuine, field
        flipped = base64.urlsafe_b64decode(doc["signature"] + "==")
        bad_sig = base64.urlsafe_b64encode(bytes([flipped[0] ^ 1]) + flipped[1:]).decode().rstrip("=")
        assert "altered or forged" in verifier.receipt({**doc, "signature": bad_sig}).reason
    for junk in ("", "hello!", "AAAA", "A" * 300):
        assert not verifier.code(junk).genuine


def test_only_approved_payments_and_transfers_get_receipts(engine: Engine) -> None:
    actions = decided(
        engine, blacklist("40817810000000000666"),
        transfer(event_id="declined", rail="sbp", to_account="40817810000000000666"),
        transfer(event_id="in", direction="in", rail="sbp", self_transfer=True, amount="300000",
                 ts="2026-02-02T08:00:00Z"),
        transfer(event_id="held", ts="2026-02-02T09:00:00Z"),
        ev("login", event_id="login", device_id="d", success=True),
        ev("atm", event_id="cash", operation="withdrawal", amount="5000", currency="RUB", card_id="4111111111111111",
           atm_id="A1"),
    )
    assert actions == ["context", "decline", "approve", "hold", "context", "approve"]
    ring = ReceiptKeys.load(engine.settings.home)
    for eid, status, words in (("declined", 409, "'decline'"), ("held", 409, "waiting for the client"),
                               ("login", 409, "context"), ("cash", 409, "ATM"), ("nope", 404, "no event")):
        with pytest.raises(NoReceipt) as caught:
            issue(engine, ring, eid)
        assert caught.value.status == status and words in caught.value.reason, eid
    # Confirmed by the client, the suspended transfer executes: now it has a receipt, at that moment.
    engine.answer_hold("held", "confirm", ts="2026-02-02T10:30:00Z")
    engine.commit()
    released = Verifier(engine.settings, ring).code(issue(engine, ring, "held").code)
    assert released.genuine and "at 10:30 on 2026-02-02 (UTC)" in released.text


def test_rotation_keeps_old_receipts_and_revocation_ends_them(engine: Engine) -> None:
    decided(engine, kzt_payment())
    home = engine.settings.home
    ring = ReceiptKeys.load(home)
    verifier = Verifier(engine.settings, ring)
    old = issue(engine, ring, "pay-1")
    path = home / "receipt-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    ReceiptKeys.load(home).rotate()  # as the CLI does, in another process: the server's ring sees it
    new = issue(engine, ring, "pay-1")
    assert new.payload.kid != old.payload.kid and new.code != old.code
    assert verifier.code(old.code).genuine and verifier.code(new.code).genuine
    stored = {k["kid"]: k for k in json.loads(path.read_text())}
    assert stored[old.payload.kid.hex()]["status"] == "retired"
    assert "private" not in stored[old.payload.kid.hex()]  # a retired key can never sign again

    ReceiptKeys.load(home).revoke(old.payload.kid.hex(), "leaked in a backup")
    v = verifier.code(old.code)
    assert not v.genuine and "revoked" in v.reason and "leaked in a backup" in v.reason
    assert verifier.code(new.code).genuine


def test_unknown_key_and_unsafe_key_file(engine: Engine, tmp_path: Path) -> None:
    decided(engine, kzt_payment())
    stranger = ReceiptKeys.load(tmp_path / "another-operator")
    foreign = issue(engine, stranger, "pay-1")  # a well-formed receipt signed by a key not ours
    v = Verifier(engine.settings).code(foreign.code)
    assert not v.genuine and "not one of this operator's keys" in v.reason

    ring = ReceiptKeys.load(engine.settings.home)
    issue(engine, ring, "pay-1")
    os.chmod(ring.path, 0o644)
    with pytest.raises(ReceiptKeyError, match="chmod 600"):
        ReceiptKeys.load(engine.settings.home)


def test_receipts_over_http_and_the_public_page(db_url: str) -> None:
    with serving(QALQAN_DB=db_url) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        first = c.post("/v1/events", content=kzt_payment())
        assert first.json().get("action") == "approve", first.text
        c.post("/v1/events", content=blacklist("40817810000000000666"))
        assert c.post("/v1/events", content=transfer(event_id="declined", rail="sbp",
                                                     to_account="40817810000000000666")).json()["action"] == "decline"

        r = c.get("/v1/receipts/pay-1")
        assert r.status_code == 200, r.text
        receipt = r.json()
        assert receipt["text"] == "genuine: 25,000 KZT to merchant M-100245 at 14:02 on 2026-02-02 (UTC+05:00)"
        assert receipt["verify_url"] == f"{base}/verify?c={receipt['code']}"
        for path, status in (("/v1/receipts/declined", 409), ("/v1/receipts/nope", 404)):
            bad = c.get(path)
            assert bad.status_code == status and bad.headers["content-type"] == "application/problem+json"
            assert bad.json()["field"] == "event_id"

        v = c.post("/v1/receipts/verify", content=receipt["code"], headers={"content-type": "text/plain"}).json()
        assert v["genuine"] is True and v["receipt"]["event_id"] == "pay-1"
        mine = c.post("/v1/receipts/verify", json={"code": receipt["code"], "payee_check": "M-100245"}).json()
        assert mine["to_you"] is True and mine["text"].startswith("genuine: 25,000 KZT to you at 14:02")
        assert c.post("/v1/receipts/verify", json={**receipt, "amount": "250000"}).json()["genuine"] is False
        assert c.post("/v1/receipts/verify", json={"code": "NOTAREALRECEIPT"}).json()["genuine"] is False
        unreadable = c.post("/v1/receipts/verify", json={**receipt, "ts": "yesterday"}).json()
        assert unreadable["genuine"] is False and "ts" in unreadable["reason"]
        for body, field in ((b"{}", "code"), (b"[1]", "$"), (b"{", "$"), (b"", "code"),
                            (json.dumps({**receipt, "amount": None}).encode(), "amount"),
                            (json.dumps({"code": receipt["code"], "payee_check": 7}).encode(), "payee_check")):
            bad = c.post("/v1/receipts/verify", content=body)
            assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json", body
            assert bad.json()["field"] == field, body

        page = c.get("/verify")
        assert page.status_code == 200 and "<form" in page.text and "GENUINE" not in page.text
        scanned = c.get("/verify", params={"c": receipt["code"]})
        assert "GENUINE" in scanned.text and "25,000 KZT to merchant M-100245 at 14:02" in scanned.text
        assert scanned.headers["cache-control"] == "no-store"
        pasted = c.post("/verify", data={"c": receipt["code"], "payee": "M-100245"})
        assert "genuine: 25,000 KZT to you at 14:02 on 2026-02-02" in pasted.text
        code = receipt["code"]  # one character of the signature changed (not its last: base32's last
        i = len(code) - 12      # character may carry unused bits, and "AAA" may be what it was)
        fake = c.post("/verify", data={"c": code[:i] + ("B" if code[i] != "B" else "C") + code[i + 1:]})
        assert "NOT GENUINE" in fake.text and "25,000" not in fake.text

        keys = c.get("/v1/receipt-keys").json()["keys"]
        assert [k["kid"] for k in keys] == [receipt["key_id"]] and all("private" not in k for k in keys)
        spec = c.get("/openapi.json").json()["paths"]
        assert {"/v1/receipts/verify", "/v1/receipts/{event_id}", "/verify", "/v1/receipt-keys"} <= set(spec)


def test_receipt_roles_with_auth_on(tmp_path: Path) -> None:
    secrets = {}
    for role, org in (("integrator", "bank1"), ("merchant", "bank1"), ("admin", "bank2")):
        r = runner.invoke(app, ["keys", "create", "--role", role, "--org", org])
        secrets[role] = {"Authorization": f"Bearer {r.output.split(': ', 1)[1].split()[0]}"}
    with serving(QALQAN_AUTH="on", QALQAN_DB=f"sqlite:///{tmp_path / 'a.db'}") as (base, _), \
            httpx.Client(base_url=base, timeout=10) as c:
        c.post("/v1/events", content=kzt_payment(), headers=secrets["integrator"])
        assert c.get("/v1/receipts/pay-1").status_code == 401
        assert c.get("/v1/receipts/pay-1", headers=secrets["merchant"]).status_code == 403
        code = c.get("/v1/receipts/pay-1", headers=secrets["integrator"]).json()["code"]
        assert c.get("/v1/receipts/pay-1", headers=secrets["admin"]).status_code == 404  # bank2's admin: not theirs
        # Anyone checks a receipt: no key.
        assert c.post("/v1/receipts/verify", json={"code": code}).json()["genuine"] is True
        assert "GENUINE" in c.get("/verify", params={"c": code}).text
        assert c.get("/v1/receipt-keys").status_code == 200
        assert c.get("/v1/receipts/verify").status_code == 405  # open for POST only: no receipt without a key


def test_cli(tmp_path: Path) -> None:
    stream = tmp_path / "events.jsonl"
    stream.write_bytes(b"\n".join([kzt_payment(), blacklist("40817810000000000666"),
                                   transfer(event_id="declined", rail="sbp", to_account="40817810000000000666")]))
    assert runner.invoke(app, ["replay", str(stream)]).exit_code == 0

    shown = runner.invoke(app, ["receipts", "show", "pay-1", "--json"])
    assert shown.exit_code == 0, shown.output
    old = json.loads(shown.output)["code"]
    ok = runner.invoke(app, ["receipts", "verify", old, "--payee", "M-100245"])
    assert ok.exit_code == 0 and "genuine: 25,000 KZT to you at 14:02" in ok.output
    assert runner.invoke(app, ["receipts", "verify", old[:-4] + "AAAA"]).exit_code == 1
    refused = runner.invoke(app, ["receipts", "show", "declined"])
    assert refused.exit_code == 1 and "only approved" in refused.output

    assert runner.invoke(app, ["receipts", "key", "rotate"]).exit_code == 0
    listed = runner.invoke(app, ["receipts", "key", "list"]).output
    assert "active" in listed and "retired" in listed
    new = runner.invoke(app, ["receipts", "show", "pay-1"]).output
    assert "code (" in new and old not in new
    assert runner.invoke(app, ["receipts", "verify", old]).exit_code == 0  # signed before the rotation
    old_kid = json.loads(runner.invoke(app, ["receipts", "verify", old, "--json"]).output)["receipt"]["key_id"]
    assert runner.invoke(app, ["receipts", "key", "revoke", old_kid, "--reason", "leaked"]).exit_code == 0
    revoked = runner.invoke(app, ["receipts", "verify", old])
    assert revoked.exit_code == 1 and "revoked" in revoked.output
    assert runner.invoke(app, ["receipts", "key", "revoke", "ffffffff", "--reason", "x"]).exit_code == 1


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and os.environ.get("CI") != "true",  # CI: fails
                    reason="/usr/bin/chromium is absent: `make /usr/bin/chromium` installs Debian's chromium")
def test_a_seller_checks_receipts_in_a_real_browser(tmp_path: Path) -> None:
    """Scans the QR (opens the link), pastes a code with their merchant id, pastes a forged one.
    Screenshots go to ``$QALQAN_ARTEFACTS/receipts`` (default ``test-artefacts/receipts/``)."""
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("QALQAN_ARTEFACTS") or Path(__file__).parents[1] / "test-artefacts") / "receipts"
    shots.mkdir(parents=True, exist_ok=True)
    with serving(QALQAN_DB=f"sqlite:///{tmp_path / 'b.db'}") as (base, _), \
            httpx.Client(base_url=base, timeout=10) as c, sync_playwright() as pw:
        c.post("/v1/events", content=kzt_payment())
        receipt = c.get("/v1/receipts/pay-1").json()
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 420, "height": 900})  # a seller's phone
            page.set_default_timeout(10_000)
            page.goto(receipt["verify_url"])
            expect(page.locator("#verdict")).to_have_text("GENUINE")
            expect(page.locator("#text")).to_contain_text("25,000 KZT to merchant M-100245 at 14:02")
            page.screenshot(path=str(shots / "01-scanned.png"), full_page=True)

            page.fill("#payee", "M-100245")
            page.click("button[type=submit]")
            expect(page.locator("#text")).to_have_text(
                "genuine: 25,000 KZT to you at 14:02 on 2026-02-02 (UTC+05:00)")
            page.screenshot(path=str(shots / "02-to-you.png"), full_page=True)

            page.goto(f"{base}/verify")
            forged = receipt["code"][:40] + ("B" if receipt["code"][40] == "A" else "A") + receipt["code"][41:]
            page.fill("#c", forged)
            page.click("button[type=submit]")
            expect(page.locator("#verdict")).to_have_text("NOT GENUINE")
            page.screenshot(path=str(shots / "03-forged.png"), full_page=True)
        finally:
            browser.close()
