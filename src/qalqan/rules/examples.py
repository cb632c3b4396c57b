"""Run the examples written beside the rules (`tests:` in a pack) through the real decision path.

Each example is a short stream of events in the contract's form; the last one is a money
movement, and the rule must hit it (`expect: hit`) or not (`expect: miss`). A risk officer who
changes a threshold sees at once which written examples no longer hold.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ..config import Settings


@dataclass
class ExampleResult:
    rule: str
    name: str
    expect: str
    got: str

    @property
    def ok(self) -> bool:
        return self.expect == self.got


def run_examples(settings: Settings, directory: Path | None = None) -> list[ExampleResult]:
    from ..engine import Engine

    probe = Engine(dataclasses.replace(settings, db_url="sqlite:///:memory:"))
    rules = probe.load_rules(directory)
    probe.record.close()
    results: list[ExampleResult] = []
    for rule in rules.rules:
        for i, example in enumerate(rule.tests, 1):
            engine = Engine(dataclasses.replace(settings, db_url="sqlite:///:memory:"), rules=rules)
            decision = None
            for n, event in enumerate(example["given"]):
                body = {"event_id": f"example-{n}", **event}
                decision = engine.decide(msgspec.json.encode(body)).decision
            codes = {r.code for r in decision.reasons} if decision else set()
            results.append(ExampleResult(rule.code, example.get("name", f"example {i}"), example["expect"],
                                         "hit" if rule.code in codes else "miss"))
            engine.record.close()
    return results
