"""The model stage's time budget: a circuit that stops waiting on a slow model.

``score_one`` is a synchronous call on the decision path; Python cannot pre-empt it cheaply (a
thread per call would cost more than most models take). So the budget is kept by a circuit:

- **closed** (normal): the model is called. An answer later than the budget
  (``QALQAN_MODEL_BUDGET_MS``) is still used — it is there, and it is the model's — but the decision
  also takes its channel's fallback and records ``cause="late: …"``, and the circuit opens.
- **open**: for the cool-down (``QALQAN_MODEL_COOLDOWN_S``) the model is not called at all; each
  decision takes its channel's fallback with ``cause="skipped: circuit open after …"``. A slow model
  thus costs one late decision per cool-down, not every decision's latency.
- **trial**: the first decision after the cool-down calls the model once more; on time, the circuit
  closes; late again, it opens for another cool-down.

A model that raises never fails a decision: that one decision takes the fallback
(``cause="raised: …"``). Raising does not open the circuit — it is usually one odd input, and it
costs no time.

The budget is kept only where someone waits for the answer (``enabled``: a live server, whose engine
runs on the server's clock). Replay, backtests and workers on the stream's own time decide every
event with the model, whatever it takes, so that the same stream always gives the same decisions.

Time comes from ``clock`` (integer nanoseconds, monotonic): tests give a fake one and never assert
wall-clock times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from .events import Reason

__all__ = ["ModelGuard"]


class _Model(Protocol):
    version: str

    def score_one(self, features: dict[str, Any]) -> tuple[float, list[Reason]]: ...


class ModelGuard:
    def __init__(self, budget_ms: float = 50, cooldown_s: float = 30,
                 clock: Callable[[], int] = time.perf_counter_ns, enabled: bool = False) -> None:
        self.budget_ns = int(budget_ms * 1_000_000)
        self.cooldown_ns = int(cooldown_s * 1_000_000_000)
        self.clock = clock
        self.enabled = enabled
        self.open_until: int | None = None  # None: closed
        self.opened_by = ""  # why the circuit is open, for the skipped decisions' cause
        self._version: str | None = None

    def score(self, model: _Model, v: dict[str, Any]) -> tuple[float, list[Reason], str | None]:
        """(score, reasons, cause): ``cause`` is None when the model did its part on time, else why
        the decision must take its channel's fallback (the score and reasons are then 0 and none,
        except for a late answer, which is used)."""
        if model.version != self._version:  # a promoted model starts with a closed circuit
            self._version, self.open_until = model.version, None
        clock = self.clock
        if self.enabled and self.open_until is not None:
            now = clock()
            if now < self.open_until:
                left = (self.open_until - now) / 1e9
                return 0.0, [], f"skipped: circuit open after {self.opened_by}; next trial in {left:.1f} s"
        t0 = clock()
        try:
            score, reasons = model.score_one(v)
        except Exception as exc:  # a broken model never fails a decision
            return 0.0, [], f"raised: {exc.__class__.__name__}: {exc}"[:200]
        if not self.enabled:
            return score, reasons, None
        end = clock()
        took = end - t0
        if took <= self.budget_ns:
            self.open_until = None  # on time: a trial call closes the circuit
            return score, reasons, None
        budget_ms = self.budget_ns / 1e6
        over = f"{took / 1e6:.1f} ms, {(took - self.budget_ns) / 1e6:.1f} ms over the {budget_ms:g} ms budget"
        self.open_until = end + self.cooldown_ns
        self.opened_by = f"a late answer ({over})"
        return score, reasons, f"late: {over}; answer used, model skipped for {self.cooldown_ns / 1e9:g} s"

    @property
    def state(self) -> str:
        """closed, open or trial (the next call is the trial), on the guard's clock."""
        if self.open_until is None:
            return "closed"
        return "open" if self.clock() < self.open_until else "trial"
