"""Keys and console users change on a running server at once: a key made, revoked or given another
role with `qalqan keys`, and a user disabled with `qalqan users disable`, count within a second,
without a restart. A key file that does not parse keeps the last good keys. `/metrics`, with auth
on, needs an auditor's or an admin's key."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from console.helpers import PASSWORD, logged_in
from test_http import serving
from typer.testing import CliRunner

from conftest import transfer
from qalqan import audit
from qalqan.api import keys as keys_mod
from qalqan.api.keys import KeyRing
from qalqan.cli import app
from qalqan.console.users import LiveUsers, UserBook
from qalqan.store import open_record

WITHIN_S = 1.0  # what the docs promise (docs/api.md): the servers look every 0.25 s


def within(check: Callable[[], bool], seconds: float = WITHIN_S) -> float:
    """Polls ``check`` until it holds; how long it took. Fails past ``seconds``."""
    t0 = time.monotonic()
    while True:
        if check():
            return time.monotonic() - t0
        if time.monotonic() - t0 > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.02)


def cli(*args: str) -> str:
    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def made(output: str) -> tuple[str, dict[str, str]]:
    """`qalqan keys create`'s output: the key's id and its Authorization header."""
    return output.split()[1], {"Authorization": f"Bearer {output.split(': ', 1)[1].split()[0]}"}


@pytest.fixture
def server(tmp_path: Path, isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[httpx.Client, str]]:
    db = f"sqlite:///{tmp_path / 'live.db'}"
    monkeypatch.setenv("QALQAN_DB", db)  # the CLI audits key changes in the server's record
    KeyRing.load(isolated_home).create("admin", "bank1", "root")  # a server with auth on needs one key to start
    with serving(QALQAN_AUTH="on", QALQAN_DB=db) as (base, _), httpx.Client(base_url=base, timeout=10) as c:
        yield c, db


def test_keys_made_revoked_and_given_another_role_count_within_a_second(server) -> None:
    c, db = server

    def post(key: dict[str, str], eid: str) -> int:
        return c.post("/v1/events", content=transfer(event_id=eid), headers=key).status_code

    key_id, key = made(cli("keys", "create", "--role", "integrator", "--org", "bank1"))
    within(lambda: post(key, "live-1") == 200)  # a new key: no 401 until a restart
    assert c.get("/v1/outbox", headers=key).status_code == 403

    cli("keys", "role", key_id, "analyst")
    within(lambda: post(key, "live-2") == 403)  # an analyst may not send events...
    assert c.get("/v1/outbox", headers=key).status_code == 200  # ...but reads the outbox

    cli("keys", "revoke", key_id)
    within(lambda: post(key, "live-3") == 401)
    assert c.get("/v1/outbox", headers=key).status_code == 401

    record = open_record(db)
    try:
        rows = [(r["action"], r["target"], r["detail"]) for r in audit.entries(record, "bank1")]
    finally:
        record.close()
    assert rows[-3:] == [("key.create", f"key:{key_id}", "integrator"), ("key.role", f"key:{key_id}",
                                                                         "integrator -> analyst"),
                         ("key.revoke", f"key:{key_id}", "")]


def test_the_role_cli_refuses_what_create_refuses(isolated_home: Path) -> None:
    runner = CliRunner()
    key_id = made(cli("keys", "create", "--role", "merchant", "--org", "bank1", "--merchant", "M-AIR"))[0]
    assert runner.invoke(app, ["keys", "role", key_id, "boss"]).exit_code == 2
    assert runner.invoke(app, ["keys", "role", key_id, "analyst", "--merchant", "M"]).exit_code == 2
    assert runner.invoke(app, ["keys", "role", "nope", "analyst"]).exit_code == 1
    cli("keys", "role", key_id, "merchant", "--merchant", "M-BUS")
    assert KeyRing.load(isolated_home).keys.popitem()[1].merchant == "M-BUS"
    cli("keys", "role", key_id, "auditor")
    k = next(iter(KeyRing.load(isolated_home).keys.values()))
    assert (k.role, k.merchant) == ("auditor", None)  # only a merchant key names a merchant
    cli("keys", "revoke", key_id)
    assert runner.invoke(app, ["keys", "role", key_id, "admin"]).exit_code == 1  # a revoked key stays revoked


def test_metrics_need_an_auditors_or_an_admins_key(server) -> None:
    c, _ = server
    keys = {role: made(cli("keys", "create", "--role", role, "--org", "bank1"))[1]
            for role in ("integrator", "auditor", "admin")}
    within(lambda: c.get("/v1/decisions/x", headers=keys["admin"]).status_code == 404)
    assert c.get("/metrics").status_code == 401
    assert c.get("/metrics", headers=keys["integrator"]).status_code == 403
    assert c.get("/metrics", headers=keys["auditor"]).status_code == 200
    r = c.get("/metrics", headers=keys["admin"])
    assert r.status_code == 200 and "qalqan_decisions_total" in r.text
    assert c.get("/healthz").status_code == 200 and c.get("/openapi.json").status_code == 200  # still open
    spec = c.get("/openapi.json").json()
    assert spec["paths"]["/metrics"]["get"]["security"] == [{"apiKey": []}]


def test_a_disabled_user_is_refused_at_once(server, isolated_home: Path) -> None:
    c, _ = server
    base = str(c.base_url)
    book = UserBook.load(isolated_home)
    book.create("nina", "analyst", "bank1", PASSWORD)
    book.create("olga", "analyst", "bank1", PASSWORD)
    with logged_in(base, "nina") as nina, logged_in(base, "olga") as olga:
        assert nina.get("/console/queue").status_code == 200
        assert olga.get("/console/queue").status_code == 200
        cli("users", "disable", "nina")
        assert nina.get("/console/queue").status_code == 303  # the very next request: back to the login
        assert olga.get("/console/queue").status_code == 200
        # Another role in the file ends the session too (the session keeps the role it logged in with).
        book = UserBook.load(isolated_home)
        book.users["olga"].role = "auditor"
        book.save()
        assert olga.get("/console/queue").status_code == 303


# --- the ring and the user book alone: what a change of the file does ----------------------------------


@pytest.fixture
def eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_mod, "RECHECK_S", 0.0)


def test_a_file_that_does_not_parse_keeps_the_last_good_ring(isolated_home: Path, eager) -> None:
    ring = KeyRing.load(isolated_home)
    _, secret = ring.create("integrator", "bank1")
    auth = f"Bearer {secret}".encode()
    server = KeyRing.load(isolated_home)
    assert server.check(auth) is not None
    good = ring.path.read_bytes()
    for bad in (good[: len(good) // 2], b"", b"[{\"id\": 1}]", b"not json"):
        ring.path.write_bytes(bad)  # as a careless editor would: in place, no rename
        assert server.check(auth) is not None, bad
    ring.path.write_bytes(good.replace(b'"revoked":false', b'"revoked":true'))
    assert server.check(auth) is None  # a good file again counts at once


def test_a_key_file_that_is_gone_refuses_every_key(isolated_home: Path, eager) -> None:
    ring = KeyRing.load(isolated_home)
    auth = f"Bearer {ring.create('admin', 'bank1')[1]}".encode()
    server = KeyRing.load(isolated_home)
    assert server.check(auth) is not None
    ring.path.unlink()
    assert server.check(auth) is None


def test_the_hot_path_looks_at_the_file_at_most_every_recheck(isolated_home: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ring = KeyRing.load(isolated_home)
    auth = f"Bearer {ring.create('integrator', 'bank1')[1]}".encode()
    server = KeyRing.load(isolated_home)
    looks = []
    real_stat = keys_mod.os.stat
    monkeypatch.setattr(keys_mod.os, "stat", lambda p, *a, **k: looks.append(p) or real_stat(p, *a, **k))
    t0 = time.monotonic()
    for _ in range(20_000):
        assert server.check(auth) is not None
    took = time.monotonic() - t0
    assert len(looks) <= took / keys_mod.RECHECK_S + 1


def test_writes_replace_the_file_at_once(isolated_home: Path) -> None:
    """write_private writes beside and renames: a reader never sees half a file, and every write is
    a new inode (which the signature includes)."""
    ring = KeyRing.load(isolated_home)
    ring.create("integrator", "bank1")
    before = ring.path.stat().st_ino
    ring.create("auditor", "bank1")
    assert ring.path.stat().st_ino != before
    assert not ring.path.with_name(ring.path.name + ".tmp").exists()


def test_live_users_keep_the_last_good_book(isolated_home: Path) -> None:
    UserBook.load(isolated_home).create("nina", "analyst", "bank1", PASSWORD)
    live = LiveUsers(isolated_home)
    assert not live.book().users["nina"].disabled
    path = isolated_home / "console-users.json"
    good = path.read_bytes()
    path.write_bytes(good[:-5])
    assert "nina" in live.book().users
    path.write_bytes(good.replace(b'"disabled":false', b'"disabled":true'))  # in place: another size
    assert live.book().users["nina"].disabled
    path.unlink()
    assert live.book().users == {}
