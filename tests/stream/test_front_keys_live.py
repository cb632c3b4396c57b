"""Key and user changes count on a running `qalqan serve --nats` front within a second, as on the
embedded server (tests/api/test_keys_live.py): the front reads the same QALQAN_HOME files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from console.helpers import PASSWORD, logged_in

from conftest import transfer
from qalqan.api.keys import KeyRing
from qalqan.console.users import UserBook

from .conftest import need_servers
from .helpers import env_for, fresh_database, fresh_stream
from .test_front import front, wait_ready, worker


def within(check: Callable[[], bool], seconds: float = 1.0) -> None:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.02)


def test_a_front_takes_key_and_user_changes_at_once(tmp_path: Path) -> None:
    need_servers()
    home = tmp_path / "home"
    ring = KeyRing.load(home)
    int1, secret = ring.create("integrator", "bank1", "int1")
    key = {"authorization": f"Bearer {secret}"}
    with fresh_database() as db, fresh_stream() as stream:
        env = env_for(home, db, QALQAN_AUTH="on")
        logs = {n: tmp_path / f"{n}.log" for n in ("f0", "w0")}
        base, ctx = front(stream, 1, env, logs["f0"])
        with ctx as proc, worker(stream, 0, 1, env, logs["w0"]), httpx.Client(base_url=base, timeout=30) as http:
            wait_ready(base, proc, logs["f0"])

            def post(headers: dict[str, str]) -> int:
                return http.post("/v1/events", content=transfer(), headers=headers).status_code

            assert post(key) == 200, logs["w0"].read_text()
            _, later = KeyRing.load(home).create("admin", "bank1", "made while the front runs")
            admin = {"authorization": f"Bearer {later}"}
            within(lambda: post(admin) == 200)
            assert http.get("/metrics").status_code == 401 and http.get("/metrics", headers=key).status_code == 403

            assert KeyRing.load(home).revoke(int1.id)
            within(lambda: post(key) == 401)
            assert KeyRing.load(home).set_role(next(k.id for k in KeyRing.load(home).keys.values()
                                                    if k.name.startswith("made")), "auditor")
            within(lambda: post(admin) == 403)

            UserBook.load(home).create("nina", "analyst", "bank1", PASSWORD)
            with logged_in(base, "nina") as nina:
                assert nina.get("/console/lists").status_code == 200
                UserBook.load(home).disable("nina")
                assert nina.get("/console/lists").status_code == 303
