"""The fault suite (issue 15): each asserts no hang past the budget, nothing acknowledged lost, and
recovery without a restart.

Here: the record's PostgreSQL stopped and frozen under the embedded server (test_record_outage.py),
a call's budget and its fence (test_record_budget.py), Redis stopped and frozen
(test_state_outage.py), NATS stopped and frozen under a front and a worker (test_stream_outage.py).
Beside it: overload (tests/security/test_admission.py), a model that raises or is late
(tests/test_fallback.py, tests/test_model_budget.py), a worker killed and the workers' record or
Redis down under load (tests/stream/test_faults.py), a worker gone behind a front
(tests/stream/test_front.py), the record dropping a front's connections (tests/stream/test_front.py).
"""
