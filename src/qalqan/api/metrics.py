"""Prometheus metrics of the decisions the server has given: by action, latency, rule hits."""

from __future__ import annotations

from collections import Counter

from ..events import Decision, Fallback

BUCKETS_MS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)


class Metrics:
    def __init__(self) -> None:
        self.actions: Counter[str] = Counter()
        self.rule_hits: Counter[str] = Counter()
        self.buckets = [0] * len(BUCKETS_MS)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.rejected = 0
        self.context = 0
        # Decisions that took their channel's fallback, by (stage, cause, fallback action).
        self.fallbacks: Counter[tuple[str, str, str]] = Counter()

    def decided(self, d: Decision) -> None:
        self.actions[d.action] += 1
        if d.fallback is not None:
            self.fell_back(d.fallback)
        for r in d.reasons:
            if r.source == "rule":
                self.rule_hits[r.code] += 1
        ms = d.latency_ms
        self.latency_sum += ms
        self.latency_count += 1
        for i, b in enumerate(BUCKETS_MS):
            if ms <= b:
                self.buckets[i] += 1

    def fell_back(self, f: Fallback) -> None:
        """Counts a fallback by its cause's kind (``late``, ``skipped``, ``raised``, ``no decision``…:
        the words before the first colon), never by the whole text (one series per cause kind)."""
        self.fallbacks[(f.stage, f.cause.split(":", 1)[0].strip(), f.action)] += 1

    def render(self) -> str:
        out = ["# HELP qalqan_decisions_total Decisions given, by action.", "# TYPE qalqan_decisions_total counter"]
        out += [f'qalqan_decisions_total{{action="{a}"}} {n}' for a, n in sorted(self.actions.items())]
        out += ["# HELP qalqan_rule_hits_total Rule hits on decisions, by reason code.",
                "# TYPE qalqan_rule_hits_total counter"]
        out += [f'qalqan_rule_hits_total{{code="{c}"}} {n}' for c, n in sorted(self.rule_hits.items())]
        out += ["# HELP qalqan_decision_latency_ms Time to decide, from decode to decision.",
                "# TYPE qalqan_decision_latency_ms histogram"]
        out += [f'qalqan_decision_latency_ms_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS_MS, self.buckets)]
        out += [f'qalqan_decision_latency_ms_bucket{{le="+Inf"}} {self.latency_count}',
                f"qalqan_decision_latency_ms_sum {self.latency_sum:.4f}",
                f"qalqan_decision_latency_ms_count {self.latency_count}",
                "# TYPE qalqan_events_rejected_total counter", f"qalqan_events_rejected_total {self.rejected}",
                "# TYPE qalqan_context_events_total counter", f"qalqan_context_events_total {self.context}"]
        return "\n".join(out + render_fallbacks(self.fallbacks)) + "\n"


def render_fallbacks(fallbacks: Counter[tuple[str, str, str]]) -> list[str]:
    """``qalqan_fallbacks_total{stage,cause,action}`` (the embedded server and the scaled fronts)."""
    out = ["# HELP qalqan_fallbacks_total Decisions that took their channel's fallback, by stage, cause and "
           "fallback action (docs/operations.md).", "# TYPE qalqan_fallbacks_total counter"]
    return out + [f'qalqan_fallbacks_total{{stage="{s}",cause="{c}",action="{a}"}} {n}'
                  for (s, c, a), n in sorted(fallbacks.items())]
