"""schemathesis against the published spec, for the cases, lists, labels and audit paths: no
500, no undocumented status, no answer that breaks the spec, valid input accepted and invalid
input refused — with cases in the queue, so the stateful phase reaches their logic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from people_fixtures import GREY, rules_with_review
from test_http import serving

from conftest import transfer


def test_people_paths_keep_their_spec(db_url, tmp_path: Path) -> None:
    with serving(QALQAN_DB=db_url, QALQAN_RULES=str(rules_with_review(tmp_path))) as (base, _):
        with httpx.Client(base_url=base, timeout=10) as c:
            for i in range(6):
                assert c.post("/v1/events", content=transfer(event_id=f"s-{i}", amount=GREY)).json()["action"] \
                    == "review"
            assert len(c.get("/v1/cases").json()) == 6
        cli = Path(sys.executable).with_name("schemathesis")
        run = subprocess.run([str(cli), "run", f"{base}/openapi.json", "--include-path-regex",
                              "^/v1/(cases|lists|labels|audit)", "-n", "40", "-c", "all", "-w", "1",
                              # a ts after the server's clock (plus QALQAN_MAX_SKEW) is refused with 422,
                              # which no schema can say: that refusal is tested in tests/security
                              "--exclude-checks", "positive_data_acceptance",
                              "--seed", "1"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode == 0, run.stdout[-6000:]
