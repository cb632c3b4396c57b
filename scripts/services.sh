#!/usr/bin/env bash
# Starts whichever of PostgreSQL (5432), Redis (6379) and NATS JetStream (4222) is not listening on
# 127.0.0.1, with the Debian binaries. Never stops or restarts a running one. Tolerant of failure:
# a service that cannot be started is reported, and the tests that need it skip with a message
# (under CI=true they fail instead: CI is never green by skipping; tests/conftest.py, ``missing``).
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 1 50); do up "$1" && return 0; sleep 0.1; done; return 1; }
say() { echo "services: $*"; }

if up 5432; then :; else
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql/*/main >/dev/null 2>&1; then
    v=$(ls /etc/postgresql | sort -n | tail -1)
    pg_ctlcluster "$v" main start >/dev/null 2>&1 || service postgresql start >/dev/null 2>&1 || true
  elif command -v service >/dev/null; then
    service postgresql start >/dev/null 2>&1 || true
  fi
  wait_up 5432 && say "started PostgreSQL" || say "PostgreSQL is not running and could not be started (tests that need it skip)"
fi

if up 6379; then :; else
  if command -v redis-server >/dev/null; then
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null 2>&1 || true
  fi
  wait_up 6379 && say "started Redis" || say "Redis is not running and could not be started (tests that need it skip)"
fi

if up 4222; then :; else
  if command -v nats-server >/dev/null; then
    dir=${QALQAN_NATS_DIR:-/tmp/qalqan-nats}
    mkdir -p "$dir"
    nohup setsid nats-server -a 127.0.0.1 -p 4222 -js -sd "$dir" >"$dir/nats.log" 2>&1 </dev/null &
  fi
  wait_up 4222 && say "started NATS JetStream" || say "NATS is not running and could not be started (tests that need it skip)"
fi
exit 0
