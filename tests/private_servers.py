"""Servers of a test's own, to stop, freeze and start again: never the machine's shared ones.

PostgreSQL: a fresh cluster on a free port (initdb of whatever version is installed); Redis: a
redis-server without persistence. ``freeze`` stops every process of the server with SIGSTOP: the
kernel still accepts connections and acknowledges packets, nothing answers — the hung disk or VM
that no timeout of the server's own can catch.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conftest import missing

PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit()
             else 0, default=Path("/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the postgres user when we are root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return list(cmd)


class PrivatePostgres:
    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        self._ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(data / "log"),
                     "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"]

    def start(self) -> None:
        subprocess.run(_as_postgres(*self._ctl, "start"), check=True, capture_output=True)

    def stop(self) -> None:
        subprocess.run(_as_postgres(*self._ctl, "-m", "fast", "stop"), check=True, capture_output=True)

    def _pids(self) -> list[int]:
        """The postmaster and every process it started."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(main)], capture_output=True, text=True).stdout.split()
        return [main, *map(int, children)]

    def freeze(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None or shutil.which("pgrep") is None:
        missing(f"no PostgreSQL binaries at {PG_BIN} (or no runuser/pgrep) to start a private server")
    data = Path(tempfile.mkdtemp(prefix="qalqan-pg-"))  # not under tmp_path: the postgres user must reach it
    if _as_postgres("x")[0] == "runuser":
        shutil.chown(data, "postgres")
    subprocess.run(_as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"),
                   check=True, capture_output=True)
    pg = PrivatePostgres(data, free_port())
    pg.start()
    try:
        yield pg
    finally:
        try:
            pg.thaw()
        except (OSError, ValueError):
            pass
        subprocess.run(_as_postgres(*pg._ctl, "-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


class PrivateProcess:
    """A server that is one process of the test's own: started (and answering), stopped, frozen, thawed."""

    name = "server"

    def __init__(self, port: int) -> None:
        self.port = port
        self.procs: list[subprocess.Popen[bytes]] = []

    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def start(self) -> None:
        self.procs.append(subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while not self.answers():
            assert time.monotonic() < deadline, f"the private {self.name} did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.procs[-1].terminate()
        self.procs[-1].wait(10)

    def freeze(self) -> None:
        os.kill(self.procs[-1].pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.procs[-1].pid, signal.SIGCONT)

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.wait()


class PrivateRedis(PrivateProcess):
    """redis-server without persistence: restarted, it is empty."""

    name = "redis-server"

    def __init__(self, binary: str, port: int) -> None:
        super().__init__(port)
        self.binary, self.url = binary, f"redis://127.0.0.1:{port}/0"

    def command(self) -> list[str]:
        return [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        missing("no redis-server binary to start a private Redis")
    r = PrivateRedis(binary, free_port())
    r.start()
    try:
        yield r
    finally:
        r.kill_all()


class PrivateNats(PrivateProcess):
    """nats-server with JetStream; its store survives a stop (a restart keeps the streams)."""

    name = "nats-server"

    def __init__(self, binary: str, port: int, store: Path) -> None:
        super().__init__(port)
        self.binary, self.store, self.url = binary, store, f"nats://127.0.0.1:{port}"

    def command(self) -> list[str]:
        return [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)]


@contextmanager
def private_nats() -> Iterator[PrivateNats]:
    binary = shutil.which("nats-server")
    if binary is None:
        missing("no nats-server binary to start a private NATS")
    store = Path(tempfile.mkdtemp(prefix="qalqan-nats-"))
    n = PrivateNats(binary, free_port(), store)
    n.start()
    try:
        yield n
    finally:
        n.kill_all()
        shutil.rmtree(store, ignore_errors=True)
