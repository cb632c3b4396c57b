"""Prometheus metrics of the decisions the server has given: by action, latency, rule hits."""

from __future__ import annotations

from collections import Counter

from ..events import Decision

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
        self.fallbacks: Counter[str] = Counter()  # decisions made without a stage, by stage

    def decided(self, d: Decision) -> None:
        self.actions[d.action] += 1
        if d.fallback is not None:
            self.fallbacks[d.fallback.stage] += 1
        for r in d.reasons:
            if r.source == "rule":
                self.rule_hits[r.code] += 1
        ms = d.latency_ms
        self.latency_sum += ms
        self.latency_count += 1
        for i, b in enumerate(BUCKETS_MS):
            if ms <= b:
                self.buckets[i] += 1

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
                "# TYPE qalqan_context_events_total counter", f"qalqan_context_events_total {self.context}",
                "# HELP qalqan_fallbacks_total Decisions made without a stage that failed, by stage.",
                "# TYPE qalqan_fallbacks_total counter"]
        out += [f'qalqan_fallbacks_total{{stage="{s}"}} {n}' for s, n in sorted(self.fallbacks.items())]
        return "\n".join(out) + "\n"
