#!/usr/bin/env bash
# Installs Dovecot (IMAP + LMTP), Postfix and openssl from Debian for the
# end-to-end suite. Idempotent: skips the install when the binaries are there.
# Postfix is preseeded to "No configuration" and the package scripts are kept
# from starting the system-wide services; if any is running afterwards it is
# stopped by its pid file. The suite runs its own private instances
# (start.sh), never the system-wide ones.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: must run as root (sudo $0)" >&2
  exit 1
fi

have_all() {
  [ -x /usr/sbin/dovecot ] && [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/postconf ] &&
    [ -x /usr/lib/dovecot/lmtp ] && [ -x /usr/lib/dovecot/imap ] && command -v openssl >/dev/null
}

if have_all; then
  echo "install.sh: dovecot, postfix and openssl already installed"
else
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string mx.example.com" | debconf-set-selections
  # Keep the maintainer scripts from starting the system-wide daemons
  # (invoke-rc.d honours policy-rc.d; 101 = action forbidden). Only when no
  # policy-rc.d exists already, and removed again on exit.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    dovecot-imapd dovecot-lmtpd postfix openssl ca-certificates
fi

# Make sure the system-wide instances are not running (by pid file only).
stop_by_pidfile() { # name pidfile stop-command...
  local name=$1 pidfile=$2; shift 2
  [ -s "$pidfile" ] || return 0
  local pid
  pid=$(tr -dc '0-9' <"$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  echo "install.sh: stopping system-wide $name (pid $pid)"
  "$@" >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "install.sh: system-wide $name (pid $pid) still running" >&2
}
stop_by_pidfile dovecot /run/dovecot/master.pid service dovecot stop
stop_by_pidfile postfix /var/spool/postfix/pid/master.pid postfix stop

# (postconf needs a main.cf; with "No configuration" /etc/postfix has none.)
dpkg-query -W -f '${Package} ${Version}\n' dovecot-core dovecot-imapd dovecot-lmtpd postfix openssl
