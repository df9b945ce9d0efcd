#!/usr/bin/env bash
# Moves a big mailbox (default 10,000 messages of ~50 KB, about 500 MB) from mbox-1 to mbox-2
# on a deployed lab while a sender writes to it every 100 ms, checks that every message
# arrived, and times a plain `doveadm backup` of the same mailbox between the same hosts.
#   scripts/bench-move.sh [INVENTORY] [COUNT] [BYTES]      (the lab must be up and deployed)
set -euo pipefail
cd "$(dirname "$0")/.."
INV=${1:-inventories/lab.yaml}
COUNT=${2:-10000}
BYTES=${3:-50000}
M=target/release/mailctl
LOAD=tests/accounts/mailload.py
PY=/usr/bin/python3
USER_=bench@tgg.net.id
. scripts/lab-ssh.sh
MTA=$(addr transport)
WORK=$(mktemp -d)
trap 'touch $WORK/stop; rm -rf $WORK' EXIT

cargo build --release --quiet
count_on() { on "$1" "doveadm -f tab mailbox status -u $USER_ messages INBOX 2>/dev/null | tail -1 | cut -f2"; }
echo "bench-secret" > "$WORK/pw"
if [ "$($M -i "$INV" account list --mailbox mbox-1 | grep -c "$USER_")" = 1 ] && [ "$(count_on mbox-1)" = "$COUNT" ]; then
    echo "reusing $USER_ on mbox-1 with $COUNT messages"
    $M -i "$INV" account purge-moved "$USER_" >/dev/null
else
    $M -i "$INV" account remove "$USER_" --purge >/dev/null 2>&1 || true
    on mbox-2 "rm -rf /var/vmail/tgg.net.id/bench"
    $M -i "$INV" account add "$USER_" --mailbox mbox-1 --password-file "$WORK/pw" >/dev/null
    echo "filling $USER_ with $COUNT messages of ~$BYTES bytes over SMTP..."
    start=$(date +%s.%N)
    for part in 0 1 2 3; do
        $PY $LOAD fill "$MTA" "$USER_" $((COUNT / 4)) "big$part" "$BYTES" &
    done
    wait
    while [ "$(count_on mbox-1)" != "$COUNT" ]; do sleep 1; done
    echo "filled in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
echo "mailbox: $(on mbox-1 "du -sh /var/vmail/tgg.net.id/bench | cut -f1")"

# The path move-account takes, by hand: doveadm listens on mbox-1's loopback only, so an
# OpenSSH tunnel through this machine joins mbox-2's port 12425 to it.
echo "plain doveadm backup mbox-1 -> mbox-2 through an ssh tunnel (idle, for comparison)..."
ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o ExitOnForwardFailure=yes -f -N -M -S "$WORK/tunnel" \
    -L "$WORK/doveadm.sock:127.0.0.1:2425" "root@$(addr mbox-1)"
plain=$( { /usr/bin/time -f %e ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o ExitOnForwardFailure=yes \
    -R "127.0.0.1:12425:$WORK/doveadm.sock" "root@$(addr mbox-2)" \
    "doveadm backup -R -u $USER_ tcp:127.0.0.1:12425" ; } 2>&1 | tail -1)
ssh -S "$WORK/tunnel" -O exit "root@$(addr mbox-1)" 2>/dev/null || true
on mbox-2 "rm -rf /var/vmail/tgg.net.id/bench"
echo "plain doveadm backup: $plain s"

echo "mailctl move-account with a sender every 100 ms..."
$PY $LOAD send "$MTA" "$USER_" "$WORK/sent" "$WORK/stop" &
sleep 1
$M -i "$INV" move-account "$USER_" mbox-2 --format json | tee "$WORK/report.json"
sleep 2; touch "$WORK/stop"; wait
sent=$(grep -vc ERROR "$WORK/sent" || true)
errors=$(grep -c ERROR "$WORK/sent" || true)
want=$((COUNT + sent))
for _ in $(seq 60); do
    have=$(count_on mbox-2)
    [ "$have" = "$want" ] && break
    sleep 1
done
ids=$($PY $LOAD check "$MTA" "$USER_" bench-secret | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["folders"]["INBOX"]))')
echo "sent during the move: $sent (SMTP errors: $errors); INBOX on mbox-2: $have messages, $ids distinct Message-IDs; expected $want"
[ "$have" = "$want" ] && [ "$ids" = "$want" ] && [ "$errors" = 0 ] && echo "zero loss" || { echo "LOSS OR DUPLICATES"; exit 1; }
# Back to mbox-1 for the next run: the same move with no sender, beside the plain backup.
echo "mailctl move-account back to mbox-1, idle..."
$M -i "$INV" account purge-moved "$USER_" >/dev/null
$M -i "$INV" move-account "$USER_" mbox-1 --purge
