#!/usr/bin/env bash
# Replication lag of a mailbox pair under load, on a lab of inventories/lab.yaml with every
# host a mailbox host in two pairs (as tests/pairs.rs), release build, as root: RATE messages
# a second for SECS seconds through the MTA to siti (on mbox-1), each Message-ID's SMTP
# acknowledgement time against the time it first shows in her INBOX on mbox-1's partner
# (ldap), watched on that host every 50 ms. The lab's hosts share the machine's clock.
#   scripts/bench-pairs.sh [RATE] [SECS]      (default 10 60)
#   OS=debian-13 scripts/bench-pairs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-10}
SECS=${2:-60}
M=$PWD/target/release/mailctl
WORK=$(mktemp -d)
INV=$WORK/lab.yaml
cargo build --release --quiet
cleanup() { $M lab down --purge "$INV" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

cp -r inventories/lab-credentials "$WORK/"
sed -e 's/name: tgg-lab/name: benchpairs/' -e 's|/lab/tgg-lab/|/lab/benchpairs/|' \
    -e 's/10\.99\.0\./10.69.0./g' -e 's/bridge: mailctl0/bridge: mailctl69/' \
    -e 's/roles: \[ldap, dns\] }/roles: [ldap, dns, mailbox], capacity: 3000 }/' \
    -e 's/roles: \[mta, proxy\] }/roles: [mta, proxy, mailbox], capacity: 3000 }/' \
    inventories/lab.yaml > "$INV"
[ -n "${OS:-}" ] && sed -i "s/^  name: benchpairs$/  name: benchpairs\n  os: $OS/" "$INV"
cat >> "$INV" <<'PAIRS'
pairs:
  - { hosts: [mbox-1, ldap], addresses: [10.69.0.21, 10.69.0.22], failover: automatic }
  - { hosts: [mbox-2, transport], addresses: [10.69.0.23, 10.69.0.24], failover: automatic }
PAIRS

$M lab up "$INV" >/dev/null
$M deploy "$INV" >/dev/null
# shellcheck source=scripts/lab-ssh.sh
source scripts/lab-ssh.sh
MTA=$(addr transport)
USER_=siti@tgg.net.id
sleep 5

# On the partner: the first time each Message-ID is seen, every 50 ms, until told to stop.
on ldap "rm -f /tmp/seen /tmp/stop; nohup sh -c 'while [ ! -e /tmp/stop ]; do
  t=\$(date +%s.%N); doveadm fetch -u $USER_ hdr.message-id mailbox INBOX 2>/dev/null | sed -n \"s/^hdr.message-id: //p\" | sed \"s/^/\$t /\" >> /tmp/seen; sleep 0.05; done' >/dev/null 2>&1 &"

python3 - "$MTA" "$USER_" "$RATE" "$SECS" > "$WORK/acked" <<'PY'
import smtplib, sys, time
host, rcpt, rate, secs = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
s = smtplib.SMTP(host, 25, timeout=30)
start, n = time.time(), 0
while time.time() - start < secs:
    due = start + n / rate
    if time.time() < due:
        time.sleep(due - time.time())
    mid = f"<bench-{n}@pairs.test>"
    s.sendmail("b@example.org", [rcpt], f"From: b@example.org\r\nSubject: bench {n}\r\nMessage-ID: {mid}\r\n\r\nbench\r\n")
    print(mid, time.time(), flush=True); n += 1
s.quit()
PY
sleep 10
on ldap "touch /tmp/stop; sleep 0.3; cat /tmp/seen" > "$WORK/seen"
python3 - "$WORK/acked" "$WORK/seen" "$RATE" "$SECS" <<'PY'
import sys
acked = {l.split()[0]: float(l.split()[1]) for l in open(sys.argv[1]) if l.strip()}
seen = {}
for l in open(sys.argv[2]):
    t, mid = l.split(maxsplit=1)
    seen.setdefault(mid.strip(), float(t))
lags = sorted(seen[m] - t for m, t in acked.items() if m in seen)
missing = len(acked) - len(lags)
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]
print(f"{len(acked)} messages at {sys.argv[3]}/s for {sys.argv[4]} s; on the partner: {len(lags)}, missing {missing}")
print(f"lag from SMTP acknowledgement to the partner's INBOX: median {q(0.5):.2f} s, p95 {q(0.95):.2f} s, max {lags[-1]:.2f} s")
PY
