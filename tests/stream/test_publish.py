"""`qalqan publish`: validated like the engine validates, partitioned, appended once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import ev, missing, transfer

from .helpers import NATS_URL, env_for, fresh_stream, nats_missing, qalqan


async def _counts(stream: str) -> dict[str, int]:
    import nats

    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=f"{stream}.>")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


def test_bad_lines_are_named_and_not_published_and_a_retry_appends_nothing(tmp_path: Path):
    why = nats_missing()
    if why:
        missing(why)
    lines = [
        transfer(event_id="p-1", customer_id="C1"),
        transfer(event_id="p-2", customer_id="C2", amount="lots"),
        b"{not json",
        ev("intel", event_id="p-3", customer_id="fincert", list="cbr_fincert", entity="account", value="4081",
           op="add"),
        ev("login", event_id="p-4", customer_id="C2", device_id="d1", success=True),
    ]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    env = env_for(tmp_path / "home")
    with fresh_stream() as stream:
        first = qalqan("publish", str(src), "--nats", NATS_URL, "--stream", stream, "--partitions", "2", env=env)
        assert "line 2: amount:" in first.stderr and "line 3: $: not valid JSON" in first.stderr
        assert "published 3 events as 4 messages" in first.stdout and "2 rejected, 0 already" in first.stdout
        counts = asyncio.run(_counts(stream))
        assert sum(counts.values()) == 4 and set(counts) <= {f"{stream}.events.0", f"{stream}.events.1"}
        # intel went to both partitions: each partition subject holds at least it.
        assert len(counts) == 2
        again = qalqan("publish", str(src), "--nats", NATS_URL, "--stream", stream, "--partitions", "2", env=env)
        assert "4 already in the stream" in again.stdout
        assert sum(asyncio.run(_counts(stream)).values()) == 4
