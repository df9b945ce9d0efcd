#!/usr/bin/env bash
# Times `mailctl provision` of the lvlogistics inventory (6 VMs) against the Proxmox API
# double, whose tasks take TASK_SECONDS each (clone, start; config a quarter, resize a half).
# What it shows is mailctl's own overhead over the floor the API imposes: clones on one node
# run one after another, so the floor is 6 clone tasks plus one VM's config, resize and start.
# Usage: scripts/bench-provision.sh [RUNS] [TASK_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
task=${2:-0.4}
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 1 -subj /CN=pve -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
fp=$(openssl x509 -in "$work/cert.pem" -noout -fingerprint -sha256 | cut -d= -f2)
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchKeyBenchKeyBenchKeyBenchKeyBenchKey bench" >"$work/key.pub"
export PVE_TOKEN_SECRET=bench-secret

for run in $(seq "$runs"); do
    /usr/bin/python3 tests/proxmox/pve_double.py --schema tests/proxmox/pve-api-schema.json \
        --cert "$work/cert.pem" --key "$work/key.pem" --token-id 'mailctl@pve!provision' \
        --token-secret "$PVE_TOKEN_SECRET" --ssh-port 2222 --task-seconds "$task" >"$work/out" &
    echo $! >"$work/pid"
    for _ in $(seq 50); do [ -s "$work/out" ] && break; sleep 0.1; done
    port=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$work/out")
    sed -e "s#https://pve.lvlogist.com:8006/api2/json#https://127.0.0.1:$port/api2/json#" \
        -e "s#^  fingerprint: .*#  fingerprint: \"$fp\"#" -e "s#192.168.138.#127.21.138.#g" \
        -e "s#~/.ssh/id_ed25519.pub#$work/key.pub#" -e "s#^  identity_file: .*#  port: 2222#" \
        inventories/lvlogistics.yaml >"$work/inv.yaml"
    /usr/bin/time -f "%e %U %S" -o "$work/time" target/release/mailctl provision "$work/inv.yaml" \
        --format json >"$work/report.json"
    requests=$(curl -sk "https://127.0.0.1:$port/_double/log" 2>/dev/null \
        | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["requests"]))' || echo "?")
    read -r wall user sys <"$work/time"
    echo "run $run: wall ${wall}s, mailctl CPU $(echo "$user + $sys" | bc)s, $requests API requests"
    kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
done
echo "floor: 6 clones x ${task}s + config $(echo "$task / 4" | bc -l | cut -c1-4)s + resize $(echo "$task / 2" | bc -l | cut -c1-4)s + start ${task}s = $(echo "6 * $task + $task * 1.75" | bc -l | cut -c1-5)s"
