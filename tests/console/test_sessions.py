"""Logins, sessions, CSRF, roles and organisations of the console, as a browser meets them: a
real server, real cookies (httpx keeps them like a browser), forms posted as forms."""

from __future__ import annotations

import httpx

from qalqan.console.reader import Reader

from .helpers import PASSWORD, Site, csrf_of, logged_in, login, start

PAGES = ["/console/queue", "/console/lists", "/console/holds", "/console/rules", "/console/dashboard"]


def pages(site: Site) -> list[str]:
    return [*PAGES, site.case("p-5"), site.case("t-hold")]


def test_the_seeded_record_has_its_two_cases(site: Site) -> None:
    assert set(site.cases) == {"p-5", "t-hold"}


def test_pages_need_a_login(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        for p in pages(site):
            r = c.get(p)
            assert r.status_code == 303 and r.headers["location"] == f"/console/login?next={p}"
        assert c.post(site.case("p-5") + "/decide", data={"outcome": "fraud"}).status_code == 403


def test_login_sets_a_safe_cookie_and_logout_ends_the_session(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        r = login(c, "ana")
        assert r.status_code == 303
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
        assert "Max-Age=" in cookie
        sid = c.cookies["qalqan_session"]
        assert len(sid) >= 40  # 32 random bytes
        page = c.get("/console/queue")
        assert page.status_code == 200 and "ana · analyst · " in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert c.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
        assert c.get("/console/queue").status_code == 303
    with httpx.Client(base_url=site.base, timeout=10, cookies={"qalqan_session": sid}) as stale:
        assert stale.get("/console/queue").status_code == 303  # the old id is dead on the server too


def test_a_wrong_password_or_name_gets_no_session(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        for name, pw in (("ana", "not the password"), ("nobody", PASSWORD)):
            r = login(c, name, pw)
            assert r.status_code == 401 and "wrong name or password" in r.text
            assert "qalqan_session" not in c.cookies


def test_login_without_its_csrf_token_is_refused(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        r = c.post("/console/login", data={"csrf": "made-up", "name": "ana", "password": PASSWORD})
        assert r.status_code == 403 and "qalqan_session" not in c.cookies


def test_login_sends_people_back_only_inside_the_console(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        for target, lands in (("/console/rules", "/console/rules"), ("https://evil.example/", "/console/queue"),
                              ("//evil.example/console/", "/console/queue")):
            token = csrf_of(c.get("/console/login").text)
            r = c.post("/console/login", data={"csrf": token, "name": "ana", "password": PASSWORD, "next": target})
            assert r.status_code == 303 and r.headers["location"] == lands


def test_a_post_needs_the_sessions_own_csrf_token(site: Site) -> None:
    with logged_in(site.base, "ana") as c, logged_in(site.base, "root") as other:
        mine = csrf_of(c.get("/console/lists").text)
        theirs = csrf_of(other.get("/console/lists").text)
        assert mine != theirs
        form = {"list": "internal", "entity": "device", "value": "dev-x"}
        assert c.post("/console/lists/add", data=form).status_code == 403
        assert c.post("/console/lists/add", data={**form, "csrf": theirs}).status_code == 403
        assert c.post("/console/lists/add", data={**form, "csrf": ""}).status_code == 403
        assert "<td>internal</td>" not in c.get("/console/lists").text
        assert c.post("/console/lists/add", data={**form, "csrf": mine}).status_code == 303
        # the header form of the token works too (for scripts)
        r = c.post("/console/lists/add", data={**form, "value": "dev-y"}, headers={"x-csrf-token": mine})
        assert r.status_code == 303
        entries = c.get("/console/lists").text
        assert entries.count("<td>internal</td><td>device</td>") == 2
        assert "dev-x" not in entries  # the value was tokenised on entry


def test_bad_input_names_the_field(site: Site) -> None:
    with logged_in(site.base, "ana") as c:
        token = csrf_of(c.get("/console/queue").text)
        r = c.post(site.case("p-5") + "/decide", data={"outcome": "maybe", "csrf": token})
        assert r.status_code == 422 and 'data-field="outcome"' in r.text
        r = c.post("/console/lists/add", data={"list": "mine", "entity": "device", "value": "d", "csrf": token})
        assert r.status_code == 422 and 'data-field="list"' in r.text
        r = c.post("/console/lists/add", data={"list": "internal", "entity": "planet", "value": "d", "csrf": token})
        assert r.status_code == 422 and 'data-field="entity"' in r.text
        r = c.post("/console/lists/add", data={"list": "internal", "entity": "device", "value": " ", "csrf": token})
        assert r.status_code == 422 and 'data-field="value"' in r.text
        r = c.post("/console/holds/nope/confirm", data={"csrf": token})
        assert r.status_code == 422 and 'data-field="target_event_id"' in r.text
        assert c.get("/console/cases/999999").status_code == 404
        assert c.get("/console/cases/p-5").status_code == 404


def test_the_auditor_reads_everything_and_changes_nothing(site: Site) -> None:
    with logged_in(site.base, "audrey") as c:
        for p in pages(site):
            assert c.get(p).status_code == 200, p
        page = c.get(site.case("p-5")).text
        assert 'id="decide"' not in page
        token = csrf_of(page)
        assert c.post(site.case("p-5") + "/decide", data={"outcome": "fraud", "csrf": token}).status_code == 403
        assert c.post("/console/holds/t-hold/confirm", data={"csrf": token}).status_code == 403
        assert c.post("/console/lists/add", data={"list": "internal", "entity": "device", "value": "x",
                                                  "csrf": token}).status_code == 403
        log = c.get("/console/audit")
        assert log.status_code == 200 and "<td>audrey</td><td>auditor</td><td>case.read</td>" in log.text
        assert c.get("/console/audit?after=x").status_code == 422


def test_a_merchant_sees_only_its_own_payments(site: Site) -> None:
    with logged_in(site.base, "air") as c:
        queue = c.get("/console/queue").text
        assert site.case("p-5") in queue and site.case("t-hold") not in queue
        assert c.get(site.case("t-hold")).status_code == 404  # not 403: ids cannot be probed
        page = c.get(site.case("p-5")).text
        assert 'id="decide"' in page and 'name="add_card"' not in page  # lists are the analysts'
        for p in [*PAGES[1:], "/console/audit"]:
            assert c.get(p).status_code == 403


def test_another_organisation_sees_none_of_it(site: Site) -> None:
    with logged_in(site.base, "eve") as c:
        assert "/console/cases/" not in c.get("/console/queue").text
        for p in (site.case("p-5"), site.case("t-hold")):
            assert c.get(p).status_code == 404
        token = csrf_of(c.get("/console/queue").text)
        assert c.post(site.case("p-5") + "/decide", data={"outcome": "fraud", "csrf": token}).status_code == 404
        assert c.post(site.case("p-5") + "/assign", data={"csrf": token}).status_code == 404
        assert c.post("/console/holds/t-hold/confirm", data={"csrf": token}).status_code == 422
        assert "t-hold" not in c.get("/console/holds").text
        assert c.get("/console/audit").status_code == 403  # an analyst: and it would be another's log
        rules = c.get("/console/rules").text
        assert "<td>cnp.many_merchants</td>" in rules and 'class="num">1</td>' not in rules  # no hits of ours


def test_the_console_is_open_to_sessions_while_the_api_needs_keys(site: Site) -> None:
    assert httpx.get(f"{site.base}/v1/decisions/p-5").status_code == 401
    with logged_in(site.base, "ana") as c:
        assert c.get("/console/queue").status_code == 200
        assert c.get("/v1/decisions/p-5").status_code == 401  # a console session is no API key


def test_a_disabled_user_is_logged_out(site: Site) -> None:
    from qalqan.console.users import UserBook

    UserBook.load(site.home).create("gone", "analyst", site.org, PASSWORD)
    with logged_in(site.base, "gone") as c:
        assert c.get("/console/queue").status_code == 200
        UserBook.load(site.home).disable("gone")
        assert c.get("/console/queue").status_code == 303
        assert login(c, "gone").status_code == 401


def test_working_a_case_lands_a_label_and_an_audit_trail(db_url: str, tmp_path) -> None:
    """Both records: take the case, call the customer, then decide; the label is an event in the
    record, the case leaves the queue, a second decision conflicts, the audit log has it all."""
    for site in start(db_url, tmp_path / "home"):
        case = site.case("p-5")
        with logged_in(site.base, "ana") as c:
            token = csrf_of(c.get(case).text)
            assert c.post(case + "/assign", data={"csrf": token}).status_code == 303
            assert "assigned to ana" in c.get(case).text
            r = c.post(case + "/decide", data={"outcome": "contact_customer", "note": "calling", "csrf": token})
            assert r.status_code == 303
            assert "Contacting the customer (ana): calling" in c.get(case).text
            assert case in c.get("/console/queue").text  # still to decide
            r = c.post(case + "/decide", data={"outcome": "fraud", "note": "card stolen", "add_card": "on",
                                               "list": "internal", "csrf": token})
            assert r.status_code == 303
            page = c.get(case).text
            assert "Decided <strong>fraud</strong> by ana" in page and 'id="decide"' not in page
            assert case not in c.get("/console/queue").text
            again = c.post(case + "/decide", data={"outcome": "legitimate", "csrf": token})
            assert again.status_code == 409
            assert "<td>internal</td><td>card</td>" in c.get("/console/lists").text
            journal = page.split("<h2>Journal</h2>")[1]
            assert "case.assign" in journal and "case.decide" in journal and "card stolen" in journal
        with logged_in(site.base, "root") as admin:
            log = admin.get("/console/audit").text
            assert "<td>ana</td><td>analyst</td><td>case.decide</td>" in log
            assert "<td>ana</td><td>analyst</td><td>list.read</td>" in log
        reader = Reader(db_url)
        try:
            labels = [bytes(b) for (b,) in reader.query("SELECT body FROM events WHERE type = 'label'")]
            audit = reader.query("SELECT actor, action, target FROM audit ORDER BY id")
        finally:
            reader.close()
        assert len(labels) == 1 and b'"label":"fraud"' in labels[0] and b'"target_event_id":"p-5"' in labels[0]
        cid = case.rsplit("/", 1)[1]
        assert ("ana", "case.read", f"case:{cid}") in audit and ("ana", "case.decide", f"case:{cid}") in audit


def test_password_guessing_is_slowed_to_a_few_tries(site: Site) -> None:
    from qalqan.console.users import UserBook

    UserBook.load(site.home).create("locky", "analyst", site.org, PASSWORD)
    with httpx.Client(base_url=site.base, timeout=10) as c:
        for _ in range(5):
            assert login(c, "locky", "guess guess guess").status_code == 401
        r = login(c, "locky")
        assert r.status_code == 429 and "too many failed logins" in r.text
        assert "qalqan_session" not in c.cookies
        assert login(c, "ana").status_code == 303  # others are not locked out


def test_odd_tokens_and_values_are_refused_or_escaped_not_crashed(site: Site) -> None:
    with httpx.Client(base_url=site.base, timeout=10) as c:
        c.get("/console/login")
        r = c.post("/console/login", data={"csrf": "жук", "name": "ana", "password": PASSWORD})
        assert r.status_code == 403
    with logged_in(site.base, "ana") as c:
        assert c.post("/console/lists/add", data={"csrf": "жук", "list": "internal"}).status_code == 403
        token = csrf_of(c.get("/console/queue").text)
        r = c.post("/console/lists/add", data={"list": "<script>x</script>", "entity": "device", "value": "v",
                                               "csrf": token})
        assert r.status_code == 422 and "<script>x" not in r.text and "&lt;script&gt;" in r.text
        r = c.get("/console", follow_redirects=True)  # → /console/ → the queue
        assert r.status_code == 200 and r.url.path == "/console/queue"
