#!/usr/bin/env bash
# What the filters cost an MTA, on a lab of inventories/lab.yaml with `filter:` and ClamAV on
# its transport host, release build, as root:
# - the resident memory of rspamd, redis, clamd and clamav-milter after a first deploy and
#   after the messages below (clamd holds the lab's EICAR-only database here: a real one
#   with freshclam's full signatures takes about 1.5 GB, ClamAV's own figure);
# - the time the MTA takes to answer a message (from MAIL FROM to the 250 after DATA: the
#   milters run before that 250) with the filters on, then with Postfix told to skip them,
#   then with Rspamd alone, for a small text message and a 1 MB attachment (N small, N/4
#   large, on one session each).
#   scripts/bench-filter.sh [N]      (default 200)
#   OS=debian-13 scripts/bench-filter.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
M=$PWD/target/release/mailctl
WORK=$(mktemp -d)
INV=$WORK/lab.yaml
cargo build --release --quiet
cleanup() { $M lab down --purge "$INV" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT

cp -r inventories/lab-credentials "$WORK/"
sed -e 's/name: tgg-lab/name: benchfilter/' -e 's|/lab/tgg-lab/|/lab/benchfilter/|' \
    -e 's/10\.99\.0\./10.76.0./g' -e 's/bridge: mailctl0/bridge: mailctl76/' \
    -e 's/roles: \[mta, proxy\] }/roles: [mta, proxy], mta: { clamav: true } }/' \
    inventories/lab.yaml > "$INV"
[ -n "${OS:-}" ] && sed -i "s/^  name: benchfilter$/  name: benchfilter\n  os: $OS/" "$INV"
printf 'filter:\n  reject_score: 15\n  add_header_score: 6\n' >> "$INV"

$M lab up "$INV" >/dev/null
start=$EPOCHREALTIME
$M deploy "$INV" >/dev/null
echo "first deploy with the filters: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
# shellcheck source=scripts/lab-ssh.sh
source scripts/lab-ssh.sh
ssh_t() { on transport "$@"; }
MTA=$(addr transport)
# Proportional set size (PSS) summed over each daemon's processes: Rspamd's workers share
# its compiled rules, which a sum of RSS would count once per worker.
rss() {
    ssh_t 'for p in rspamd redis-server clamd clamav-milter; do
      kb=0; for pid in $(pgrep -x "$p"); do kb=$((kb + $(awk "/^Pss:/ { print \$2 }" /proc/$pid/smaps_rollup))); done
      printf "%s %s MB (PSS; RSS summed %s MB)\n" "$p" $((kb / 1024)) "$(ps -o rss= -C "$p" | awk "{ s += \$1 } END { printf \"%.0f\", s / 1024 }")"; done'
}
echo "memory after the first deploy:"; rss

TIMING='
import smtplib, statistics, sys, time
host, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
body = "Hello, the minutes of the meeting.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
msg = ("From: someone@other.example\r\nTo: siti@tgg.net.id\r\nSubject: bench\r\n"
       "Date: Mon, 30 Nov 2026 10:00:00 +0700\r\nMessage-ID: <%d@bench>\r\n\r\n" + body)
s = smtplib.SMTP(host, 25, timeout=60); s.ehlo("bench.example.org")
times = []
for i in range(n):
    t = time.perf_counter(); s.sendmail("someone@other.example", ["siti@tgg.net.id"], msg % i)
    times.append((time.perf_counter() - t) * 1000)
s.quit()
times.sort()
print("median %.1f ms, p95 %.1f ms" % (statistics.median(times), times[int(len(times) * 0.95) - 1]))
'
measure() { # LABEL
    echo "$1, small: $(python3 -c "$TIMING" $MTA "$N" 1000)"
    echo "$1, 1 MB: $(python3 -c "$TIMING" $MTA "$((N / 4))" 1000000)"
}
measure "filters on"
echo "memory after $N + $((N / 4)) messages:"; rss
ssh_t "postconf -e 'smtpd_milters = inet:127.0.0.1:11332' && postfix reload" >/dev/null
measure "Rspamd only"
ssh_t "postconf -e 'smtpd_milters =' 'non_smtpd_milters =' && postfix reload" >/dev/null
measure "filters off"
