#!/usr/bin/env bash
# Replication lag of a mailbox pair under load, on a lab of inventories/lab.yaml with every
# host a mailbox host in two pairs (as tests/pairs.rs), release build, as root: RATE messages
# a second for SECS seconds through the MTA to siti (on mbox-1), each Message-ID's SMTP
# acknowledgement time against the time it first shows in her INBOX on mbox-1's partner
# (ldap), watched on that host every 50 ms. The lab's hosts share the machine's clock.
# Then a move across the pairs and one within a pair of a mailbox of MOVE_COUNT messages of
# ~50 KB (default 2000; 0 skips it), with what the copy to the target's partner costs.
#   scripts/bench-pairs.sh [RATE] [SECS]      (default 10 60)
#   OS=debian-13 MOVE_COUNT=5000 scripts/bench-pairs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-10}
SECS=${2:-60}
M=$PWD/target/release/mailctl
WORK=$(mktemp -d)
INV=$WORK/lab.yaml
cargo build --release --quiet
cleanup() { $M lab down --purge "$INV" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
# KEEP=1 leaves the lab up (and its inventory in the work directory) to look at afterwards.
[ -n "${KEEP:-}" ] || trap cleanup EXIT

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

MOVE_COUNT=${MOVE_COUNT:-2000}
[ "$MOVE_COUNT" -gt 0 ] || exit 0
BENCH=bench@tgg.net.id
count_on() { on "$1" "doveadm -f tab mailbox status -u $BENCH messages INBOX 2>/dev/null | tail -1 | cut -f2"; }
echo "bench-secret" > "$WORK/pw"
$M -i "$INV" account add "$BENCH" --mailbox mbox-1 --password-file "$WORK/pw" >/dev/null
echo "filling $BENCH on mbox-1 with $MOVE_COUNT messages of ~50 KB..."
for part in 0 1 2 3; do
    python3 tests/accounts/mailload.py fill "$MTA" "$BENCH" $((MOVE_COUNT / 4)) "big$part" 50000 &
done
wait
while [ "$(count_on mbox-1)" != "$MOVE_COUNT" ] || [ "$(count_on ldap)" != "$MOVE_COUNT" ]; do sleep 1; done
echo "mailbox: $(on mbox-1 "du -sh /var/vmail/tgg.net.id/bench | cut -f1"), replicated on ldap"
report() {
    python3 -c 'import json, sys; r = json.load(sys.stdin); print("%s -> %s: online copy %.2f s, cutover %.2f s, copy to the partner (%s) %.2f s, old copies on %s" % (r["from"], r["to"], r["online_copy_secs"], r["cutover_secs"], r["replica_on"], r["replica_copy_secs"], r["old_copies"]))'
}
start=$(date +%s.%N)
$M -i "$INV" move-account "$BENCH" mbox-2 --format json | report
echo "  whole command $(echo "$(date +%s.%N) - $start" | bc) s; on transport at its end: $(count_on transport) messages"
start=$(date +%s.%N)
$M -i "$INV" move-account "$BENCH" transport --format json | report
echo "  whole command $(echo "$(date +%s.%N) - $start" | bc) s"
