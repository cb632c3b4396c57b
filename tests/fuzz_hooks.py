"""schemathesis hooks for tests/test_openapi_fuzz.py (loaded by the schemathesis CLI through
``SCHEMATHESIS_HOOKS``): path parameters are drawn half the time from the objects the test seeded
in the server (decisions, holds, cases, list entries), so operations answer 200 as well as 404;
and every answer's status is written down per operation, for the test to count.

``FUZZ_SEEDS``: a JSON file of the seeded ids; ``FUZZ_ANSWERS``: the JSON Lines file the answers go to."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import strategies as st

_seeds_file = os.environ.get("FUZZ_SEEDS")
SEEDS: dict[str, Any] = json.loads(Path(_seeds_file).read_text()) if _seeds_file else {}
ANSWERS = os.environ.get("FUZZ_ANSWERS")


def seeded(path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The same parameters with ids of seeded objects the operation ``path`` can find."""
    if not SEEDS:
        return []
    if "case_id" in params:
        return [{**params, "case_id": c} for c in SEEDS["cases"]]
    if "entity" in params:  # DELETE /v1/lists/{list}/{entity}/{value}
        return [{**params, **entry} for entry in SEEDS["entries"]]
    if "list" in params:
        return [{**params, "list": name} for name in SEEDS["lists"]]
    if "event_id" in params:
        ids = SEEDS["holds"] if path.startswith("/v1/holds") else \
            SEEDS["payments"] if path.startswith("/v1/receipts") else SEEDS["holds"] + SEEDS["payments"]
        return [{**params, "event_id": e} for e in ids]
    return []


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any] | None) -> Any:
    variants = seeded(ctx.operation.path, path_parameters) if ctx.operation and path_parameters else []
    if not variants:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.sampled_from(variants))


@schemathesis.hook
def after_call(ctx: Any, case: Any, response: Any) -> None:
    if ANSWERS:
        with open(ANSWERS, "a") as f:
            f.write(json.dumps({"op": f"{case.method.upper()} {case.operation.path}",
                                "status": response.status_code}) + "\n")
