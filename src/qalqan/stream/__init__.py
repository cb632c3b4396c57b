"""Past one machine: events in a NATS JetStream stream, partitioned by customer, decided by workers.

``publish`` validates a JSON Lines file and appends each event to the subject of its partition
(``NAME.events.<p>``); ``worker`` consumes one partition through the same ``Engine.decide``, writes
the record (``record.PartitionRecord``: a shared PostgreSQL record, one sequence space per
partition), publishes each decision on ``NAME.decisions.<p>`` and acknowledges an event only once
its decision is durable. docs/scaling.md says what this gives and what it costs.
"""
