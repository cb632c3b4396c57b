"""The embedded server's Redis state (QALQAN_STATE) stopped or frozen under load, then restored.

Redis holds a write-behind copy of the feature state: decisions never wait for it. While it is gone
every request is still decided and answered 200 (nothing hangs on it); once it is back the state is
written whole again, as of the record's newest commit."""

from __future__ import annotations

import pytest
import redis
from private_servers import private_redis
from test_http import serving

from .load import Load
from .test_record_outage import HANG_S, _until


def _state_seq(url: str) -> int:
    r = redis.Redis.from_url(url, socket_timeout=2)
    seqs = [int(r.hget(k, "seq") or 0) for k in r.scan_iter("*:meta")]
    return max(seqs, default=0)


@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_state_lost_under_load_decisions_go_on_then_it_is_written_again(tmp_path, fault: str) -> None:
    with private_redis() as rs, \
            serving(QALQAN_DB=f"sqlite:///{tmp_path / 'r.db'}", QALQAN_STATE=rs.url) as (base, proc):
        with Load(base, prefix="st") as load:
            _until(lambda: load.answered() >= 40, "no decisions before the fault")
            _until(lambda: _state_seq(rs.url) > 0, "the state was never written to Redis")
            rs.stop() if fault == "stopped" else rs.freeze()
            during = load.answered()
            _until(lambda: load.answered() >= during + 100, "decisions stopped while Redis was gone")
            if fault == "stopped":
                rs.start()  # empty: no persistence
            else:
                rs.thaw()
            after = load.answered()
            _until(lambda: load.answered() >= after + 40, "no decisions after Redis came back")
        assert load.other == [] and load.refused == [], (load.other[:5], load.refused[:5])
        assert load.slowest < HANG_S, f"an answer took {load.slowest:.1f} s"
        # Written whole again once back: Redis stands at (close to) the last commit's seq.
        _until(lambda: _state_seq(rs.url) >= len(load.acked), "the state was not written again", timeout=60)
        assert proc.poll() is None
