#!/usr/bin/env bash
# Starts the private Dovecot + Postfix stack of the end-to-end suite on
# 127.0.0.1 and waits until IMAP, IMAPS, LMTP and SMTP answer. Idempotent: a
# stack that is already up with the same configuration is left running.
#
#   E2E_IMAP_PORT (10143)  IMAP, plain + STARTTLS
#   E2E_IMAPS_PORT (10993) IMAP over implicit TLS
#   E2E_LMTP_PORT (10024)  Dovecot LMTP (Postfix delivers here)
#   E2E_SMTP_PORT (10025)  Postfix smtpd
#   E2E_STATE_DIR (/tmp/esce2e) run state, mail, logs; keep it short
#   E2E_START_TIMEOUT (120) seconds to wait for everything to answer (a
#                          safety net: start returns as soon as all answer)
#
# Prints E2E_*_ADDR=host:port lines and writes them to $E2E_STATE_DIR/env.
# Needs root (Postfix's master and Dovecot's master run as root) and the
# packages from install.sh.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
STATE=${E2E_STATE_DIR:-/tmp/esce2e}
IMAP_PORT=${E2E_IMAP_PORT:-10143}
IMAPS_PORT=${E2E_IMAPS_PORT:-10993}
LMTP_PORT=${E2E_LMTP_PORT:-10024}
SMTP_PORT=${E2E_SMTP_PORT:-10025}
TIMEOUT=${E2E_START_TIMEOUT:-120}
HOST=127.0.0.1

die() { echo "start.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (sudo $0)"
for b in /usr/sbin/dovecot /usr/sbin/postfix /usr/lib/dovecot/lmtp openssl; do
  command -v "$b" >/dev/null || die "$b missing: run $here/install.sh first (as root)"
done
case $STATE in
  /*) ;;
  *) die "E2E_STATE_DIR must be an absolute path" ;;
esac
# Postfix's queue sockets live under $STATE/postfix/queue/private/: keep the
# path short (FACTS: < ~60 characters), and reachable by the postfix user.
[ ${#STATE} -le 40 ] || die "E2E_STATE_DIR too long (${#STATE} > 40 characters): $STATE"
for p in "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$SMTP_PORT"; do
  [[ $p =~ ^[0-9]+$ ]] && [ "$p" -ge 1 ] && [ "$p" -le 65535 ] || die "bad port: $p"
done

# The single virtual uid/gid that owns every mailbox.
if ! getent group vmail >/dev/null; then
  groupadd --system vmail 2>/dev/null || groupadd vmail
fi
if ! getent passwd vmail >/dev/null; then
  useradd --system --gid vmail --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin vmail
fi
VMAIL_UID=$(id -u vmail)
VMAIL_GID=$(getent group vmail | cut -d: -f3)

umask 022
install -d -m 0755 "$STATE" "$STATE/log" "$STATE/dovecot" "$STATE/dovecot/state" \
  "$STATE/postfix" "$STATE/postfix/etc" "$STATE/postfix/queue"
install -d -m 0700 "$STATE/tls"
install -d -m 0750 -o vmail -g vmail "$STATE/mail"
install -d -m 0755 -o postfix "$STATE/postfix/data"
# Lock file of stack.Lock: tests may run as another user than root.
[ -e "$STATE/test.lock" ] || install -m 0666 /dev/null "$STATE/test.lock"

# Self-signed certificate for mx.example.com and 127.0.0.1, made once.
if [ ! -s "$STATE/tls/cert.pem" ] || [ ! -s "$STATE/tls/key.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 \
    -subj "/CN=mx.example.com" \
    -addext "subjectAltName=DNS:mx.example.com,DNS:localhost,IP:127.0.0.1" \
    -keyout "$STATE/tls/key.pem.tmp" -out "$STATE/tls/cert.pem.tmp" 2>/dev/null
  chmod 0600 "$STATE/tls/key.pem.tmp"
  chmod 0644 "$STATE/tls/cert.pem.tmp"
  mv "$STATE/tls/key.pem.tmp" "$STATE/tls/key.pem"
  mv "$STATE/tls/cert.pem.tmp" "$STATE/tls/cert.pem"
fi

# install_if_changed TMP DEST MODE OWNER FLAG: replace DEST by TMP only when
# the content differs, and then set changed_FLAG=1 (that server restarts).
changed_dovecot=0
changed_postfix=0
install_if_changed() {
  local tmp=$1 dest=$2 mode=$3 owner=${4:-root:root} flag=$5
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
    return 0
  fi
  chmod "$mode" "$tmp"
  chown "$owner" "$tmp"
  mv -f "$tmp" "$dest"
  eval "changed_$flag=1"
}
render() { # template dest mode flag
  sed -e "s|@STATE@|$STATE|g" -e "s|@IMAP_PORT@|$IMAP_PORT|g" \
    -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" -e "s|@LMTP_PORT@|$LMTP_PORT|g" \
    -e "s|@SMTP_PORT@|$SMTP_PORT|g" -e "s|@VMAIL_UID@|$VMAIL_UID|g" \
    -e "s|@VMAIL_GID@|$VMAIL_GID|g" "$1" >"$2.tmp"
  install_if_changed "$2.tmp" "$2" "$3" root:root "$4"
}

DCONF=$STATE/dovecot/dovecot.conf
PFETC=$STATE/postfix/etc
render "$here/dovecot.conf.tmpl" "$DCONF" 0644 dovecot
render "$here/postfix/main.cf.tmpl" "$PFETC/main.cf" 0644 postfix
render "$here/postfix/master.cf.tmpl" "$PFETC/master.cf" 0644 postfix
render "$here/postfix/vmailbox" "$PFETC/vmailbox" 0644 postfix
# Postfix pauses ~2 s when main.cf (in `postfix start`) or a lookup table
# such as vmailbox (in the first smtpd) was modified in the last few seconds.
# They are only rewritten when they changed, and then Postfix is fully
# restarted, so date fresh ones back instead of waiting.
if [ "$changed_postfix" = 1 ]; then
  touch -d "@$(($(date +%s) - 10))" "$PFETC/main.cf" "$PFETC/master.cf" "$PFETC/vmailbox"
fi
# users: "address password" lines -> Dovecot passwd-file.
grep -v '^[[:space:]]*\(#\|$\)' "$here/users" |
  awk '{ printf "%s:{PLAIN}%s::::::\n", tolower($1), $2 }' >"$STATE/dovecot/passwd.tmp"
install_if_changed "$STATE/dovecot/passwd.tmp" "$STATE/dovecot/passwd" 0640 root:dovecot dovecot

alive() { # pidfile: its pid runs and is not a zombie (the masters are
  # daemons whose parent, pid 1, may reap them late)
  local pid s
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] || return 1
  s=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
  [[ $s != Z* ]]
}

logs_tail() {
  for f in "$STATE/log/dovecot.log" "$STATE/log/postfix.log" "$STATE/log/start.log"; do
    [ -s "$f" ] || continue
    echo "---- tail $f" >&2
    tail -n 20 "$f" >&2
  done
}
fail() { echo "start.sh: $*" >&2; logs_tail; exit 1; }

: >"$STATE/log/start.log"

# Dovecot: restart only when its configuration changed.
DPID=$STATE/dovecot/run/master.pid
if alive "$DPID" && [ "$changed_dovecot" = 1 ]; then
  echo "start.sh: dovecot configuration changed, restarting" >&2
  bash "$here/stop.sh" dovecot >&2
fi
if ! alive "$DPID"; then
  dovecot -c "$DCONF" >>"$STATE/log/start.log" 2>&1 || fail "dovecot did not start"
fi

# Postfix: likewise.
if postfix -c "$PFETC" status >/dev/null 2>&1 && [ "$changed_postfix" = 1 ]; then
  echo "start.sh: postfix configuration changed, restarting" >&2
  bash "$here/stop.sh" postfix >&2
fi
if ! postfix -c "$PFETC" status >/dev/null 2>&1; then
  if ! postfix -c "$PFETC" start >>"$STATE/log/start.log" 2>&1; then
    # The postfix command reports configuration errors on stderr only when
    # it is a terminal (else to syslog, which is not there): show them.
    script -qec "postfix -c '$PFETC' check" /dev/null >&2 || true
    fail "postfix did not start"
  fi
fi

# Wait until every port answers its greeting.
greets() { # port prefix: read the first line the server sends
  local line
  exec 3<>"/dev/tcp/$HOST/$1" || return 1
  IFS= read -r -t 2 line <&3 || { exec 3<&-; return 1; }
  exec 3<&- 3>&-
  [[ $line == "$2"* ]]
}
greets_tls() { # port: a completed TLS handshake (imap-login also serves the
  # plain port, whose greeting is checked above)
  timeout 3 openssl s_client -connect "$HOST:$1" -servername mx.example.com \
    </dev/null >/dev/null 2>&1
}
deadline=$((SECONDS + TIMEOUT))
pending="imap imaps lmtp smtp"
while :; do
  left=""
  for s in $pending; do
    case $s in
      imap) greets "$IMAP_PORT" "* OK" 2>/dev/null || left="$left $s" ;;
      imaps) greets_tls "$IMAPS_PORT" || left="$left $s" ;;
      lmtp) greets "$LMTP_PORT" "220 " 2>/dev/null || left="$left $s" ;;
      smtp) greets "$SMTP_PORT" "220 " 2>/dev/null || left="$left $s" ;;
    esac
  done
  pending=$left
  [ -z "$pending" ] && break
  [ $SECONDS -lt $deadline ] || fail "not up after ${TIMEOUT}s:$pending"
  alive "$DPID" || fail "dovecot exited"
  sleep 0.1
done

{
  echo "E2E_IMAP_ADDR=$HOST:$IMAP_PORT"
  echo "E2E_IMAPS_ADDR=$HOST:$IMAPS_PORT"
  echo "E2E_LMTP_ADDR=$HOST:$LMTP_PORT"
  echo "E2E_SMTP_ADDR=$HOST:$SMTP_PORT"
  echo "E2E_STATE_DIR=$STATE"
} >"$STATE/env.tmp"
mv -f "$STATE/env.tmp" "$STATE/env"
cat "$STATE/env"
