"""The published spec against the running server: schemathesis (its own CLI, in a subprocess)
generates requests for every operation in `/openapi.json`, valid and invalid ones, and checks that
no answer is a 5xx and that every answer matches the spec: its status code is declared, its
content type and body conform; the stateful phase chains operations by the links schemathesis
infers. Once with API keys off, once on with an admin's key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_http import serving

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.parametrize("auth", ["off", "on"])
def test_no_server_error_and_every_answer_matches_the_spec(tmp_path: Path, auth: str) -> None:
    env = {"QALQAN_HOME": str(tmp_path), "QALQAN_DB": f"sqlite:///{tmp_path}/fuzz.db", "QALQAN_AUTH": auth}
    header: list[str] = []
    if auth == "on":
        from qalqan.api.keys import KeyRing

        _, secret = KeyRing.load(tmp_path).create("admin", "default", "fuzz")
        header = ["--header", f"Authorization: Bearer {secret}"]
    with serving(**env) as (base, _):
        run = subprocess.run(
            [str(Path(sys.executable).with_name("schemathesis")), "run", f"{base}/openapi.json", *header,
             "--checks", CHECKS, "--max-examples", "25", "--seed", "7",
             "--phases", "examples,coverage,fuzzing,stateful", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
