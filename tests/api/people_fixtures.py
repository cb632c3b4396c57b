"""Shared by the API tests: a rule pack that sends chosen amounts to review, and a few actors."""

from __future__ import annotations

import shutil
from pathlib import Path

from qalqan.audit import Actor
from qalqan.rules.ruleset import PACKS_DIR

# 7000 RUB is grey: the built-in packs plus one rule that sends it to review.
GREY = "7000"
REVIEW_PACK = ("pack: grey\nrules:\n  - id: seven\n    when: \"amount_base == rub(7000)\"\n    action: review\n"
               "    reason: a grey amount\n")

ANALYST = Actor(id="ana", role="analyst", org="bank1")
OTHER_ORG = Actor(id="eve", role="admin", org="bank2")
AIRLINE = Actor(id="air", role="merchant", org="bank1", merchant="M-AIR")
HOTEL = Actor(id="hot", role="merchant", org="bank1", merchant="M-HOTEL")


def rules_with_review(tmp: Path) -> Path:
    rules = tmp / "rules"
    shutil.copytree(PACKS_DIR, rules)
    (rules / "grey.yaml").write_text(REVIEW_PACK)
    return rules
