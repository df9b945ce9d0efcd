#!/usr/bin/env bash
# Times `mailctl deploy` on the lab: a full deploy onto freshly created (bare) hosts, then
# no-op re-deploys of the converged cluster. Recreates the lab of inventories/lab.yaml from
# scratch (its hosts' disks are dropped). Run as root; figures go into BENCHMARKS.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=target/release/mailctl
inv=inventories/lab.yaml
runs=${RUNS:-10}

"$bin" lab down --purge "$inv" >/dev/null
"$bin" lab up "$inv" >/dev/null
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
t0=$EPOCHREALTIME
"$bin" deploy "$inv" >/dev/null
t1=$EPOCHREALTIME
printf 'full deploy from bare hosts: %.1f s\n' "$(elapsed "$t0" "$t1")"

times=()
for _ in $(seq "$runs"); do
    a=$EPOCHREALTIME
    "$bin" deploy "$inv" >/dev/null
    b=$EPOCHREALTIME
    times+=("$(elapsed "$a" "$b")")
done
printf '%s\n' "${times[@]}" | sort -n | awk -v n="$runs" '
    { t[NR] = $1 }
    END { printf "no-op re-deploy (%d runs): min %.3f s, median %.3f s, max %.3f s\n", n, t[1], t[int((n + 1) / 2)], t[n] }'
