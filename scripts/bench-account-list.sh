#!/usr/bin/env bash
# `account list` with each mailbox's size and quota use, against the directory-only listing,
# for COUNT accounts spread over the lab's two mailbox hosts, and beside what an admin would
# otherwise run: `doveadm quota get -A` over ssh on each mailbox host, one after the other.
#   scripts/bench-account-list.sh [INVENTORY] [COUNT] [RUNS]   (the lab must be up and deployed)
# Accounts userNNNN@tgg.net.id are imported once and kept; each gets a mail home, as if it had
# received mail (doveadm reports only homes that exist).
set -euo pipefail
cd "$(dirname "$0")/.."
INV=${1:-inventories/lab.yaml}
COUNT=${2:-2000}
RUNS=${3:-7}
M=target/release/mailctl
. scripts/lab-ssh.sh
WORK=$(mktemp -d)
trap 'rm -rf $WORK' EXIT
cargo build --release --quiet

have=$($M -i "$INV" account list --no-usage --format json | grep -o '"address": *"user[0-9]*@' | wc -l)
if [ "$have" -lt "$COUNT" ]; then
    echo "address,name,mailbox" > "$WORK/many.csv"
    for i in $(seq 0 $((COUNT - 1))); do printf 'user%04d@tgg.net.id,User %d,mbox-%d\n' "$i" "$i" $((1 + i % 2)); done >> "$WORK/many.csv"
    $M -i "$INV" account import "$WORK/many.csv" | tail -1
fi
for h in mbox-1 mbox-2; do on "$h" "doveadm quota get -A >/dev/null"; done

now() { printf '%s' "$EPOCHREALTIME"; }
median() { sort -n "$1" | awk '{ t[NR] = $1 } END { m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.3f s (%.3f–%.3f)", m, t[1], t[NR] }'; }
timed() {
    local file=$1 t0 t1; shift
    : > "$file"
    for _ in $(seq "$RUNS"); do
        t0=$(now); "$@" > /dev/null; t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >> "$file"
    done
}
timed "$WORK/with" $M -i "$INV" account list
timed "$WORK/without" $M -i "$INV" account list --no-usage
peer() { on mbox-1 'doveadm -f tab quota get -A'; on mbox-2 'doveadm -f tab quota get -A'; }
timed "$WORK/peer" peer
total=$($M -i "$INV" account list --no-usage --format json | grep -c '"address"')
echo "accounts in the directory: $total; $RUNS runs each, median (min–max)"
echo "| account list (directory only, --no-usage) | $(median "$WORK/without") |"
echo "| account list with size and quota use | $(median "$WORK/with") |"
echo "| ssh + doveadm quota get -A on each mailbox host in turn (no directory) | $(median "$WORK/peer") |"
