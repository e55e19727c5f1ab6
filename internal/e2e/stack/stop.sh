#!/usr/bin/env bash
# Stops the private Dovecot + Postfix stack started by start.sh, by the pid in
# each master's pid file only (never by process name). Idempotent.
# `stop.sh dovecot` or `stop.sh postfix` stops only that one. The state (mail,
# queue, logs, certificate) stays in $E2E_STATE_DIR (/tmp/esce2e); delete it
# for a clean slate.
set -euo pipefail

STATE=${E2E_STATE_DIR:-/tmp/esce2e}
which=${1:-all}

# running PID: exists and is not a zombie (the masters are daemons whose
# parent, pid 1, may reap them late).
running() {
  local s
  s=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ $s != Z* ]]
}

# stop NAME PIDFILE EXE: SIGTERM to the master named in PIDFILE if that pid
# really is EXE (a stale pid file may name an unrelated process), then wait.
# SIGTERM is what `postfix stop` and `doveadm stop` send; each master stops
# its own children.
stop() {
  local name=$1 pidfile=$2 exe=$3 pid
  [ -s "$pidfile" ] || return 0
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && running "$pid" || return 0
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$exe" ]; then
    echo "stop.sh: $pidfile names pid $pid, which is not $exe; left alone" >&2
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || return 0
  # About a second when idle; SIGKILL is for a master that hangs, not for
  # one that a busy machine slows (it would cut the sessions a test watches).
  for _ in $(seq 600); do
    running "$pid" || { echo "stop.sh: $name stopped"; return 0; }
    sleep 0.05
  done
  echo "stop.sh: $name (pid $pid) did not stop in 30 s, sending SIGKILL to its process group" >&2
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

if [ "$which" = all ] || [ "$which" = postfix ]; then
  stop postfix "$STATE/postfix/queue/pid/master.pid" /usr/lib/postfix/sbin/master
fi
if [ "$which" = all ] || [ "$which" = dovecot ]; then
  stop dovecot "$STATE/dovecot/run/master.pid" /usr/sbin/dovecot
fi
if [ "$which" = all ]; then
  rm -f "$STATE/env"
fi
