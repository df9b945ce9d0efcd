#!/usr/bin/env bash
# mailctl's benchmarks in one run, beside the tools an admin would otherwise use, and of the
# mail a deployed cluster carries. Run as root on the machine that runs the lab:
#
#   bench/run.sh            # everything (about an hour, most of it ansible on 24 hosts);
#                           # figures into BENCHMARKS.md
#   SKIP_MOVE=1 SKIP_BIG=1 bench/run.sh    # without the 10,000-message move and the 24-host lab
#
# Peers, installed here and nowhere else: ansible-core 2.19 from PyPI in a throwaway
# virtualenv (under /var/tmp/mailctl-bench), OpenSSH's ssh. ansible gets the same files
# `mailctl render` produced, with the same owners, modes and handlers (bench/ansible_peer.py),
# and every advantage it offers: forks 10, pipelining, ControlPersist, no fact gathering.
#
# Steps: (1) the 4-host lab (inventories/lab.yaml) up and deployed; (2) no-op deploy and one
# drifted file per host, mailctl vs ansible-playbook; (3) status vs ssh loops; (4) mail flow:
# small messages at 50/s, 10 and 20 MB attachments, IMAP logins through the proxy; (5) a lab of
# HOSTS hosts (default 24): full deploy, no-op deploy vs ansible, status; (6) the move
# benchmark (scripts/bench-move.sh). Medians and min–max over RUNS runs (default 7).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
BIG_RUNS=${BIG_RUNS:-3}
HOSTS=${HOSTS:-24}
WORK=/var/tmp/mailctl-bench
BIN=$PWD/target/release/mailctl
PY=/usr/bin/python3
OUT=$WORK/results.md
mkdir -p "$WORK"
: >"$OUT"

say() { printf '%s\n' "$*" | tee -a "$OUT"; }
log() { printf '  … %s\n' "$*" >&2; }

# ---- peers -------------------------------------------------------------------------------
bash scripts/install-deps.sh >/dev/null
dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
cargo build --release --locked -q
if [ ! -x "$WORK/venv/bin/ansible-playbook" ]; then
    log "installing ansible-core 2.19 into $WORK/venv"
    "$PY" -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q 'ansible-core>=2.19,<2.20'
fi
ANSIBLE_VERSION=$("$WORK/venv/bin/ansible-playbook" --version | head -1)

# ---- timing helpers ----------------------------------------------------------------------
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# stats FILE: "median (min–max)" of the numbers in FILE, one per line.
stats() {
    sort -n "$1" | awk '{ t[NR] = $1 } END {
        m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
        printf "%.3f s (%.3f–%.3f)", m, t[1], t[NR] }'
}
median() { sort -n "$1" | awk '{ t[NR] = $1 } END { print (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN { printf "%.3f (%.0f× faster)", a / b, b / a }'; }
# timed FILE BEFORE CMD...: runs BEFORE (untimed, e.g. drift) then CMD, RUNS times, into FILE.
timed() {
    local file=$1 before=$2 t0 t1
    shift 2
    : >"$file"
    for _ in $(seq "$N"); do
        eval "$before"
        t0=$(now)
        "$@" >"$WORK/last.out" 2>&1 || { cat "$WORK/last.out" >&2; echo "bench: $* failed" >&2; exit 1; }
        t1=$(now)
        elapsed "$t0" "$t1" >>"$file"
        echo >>"$file"
    done
    sed -i '/^$/d' "$file"
}

# ---- a lab and its ansible peer ----------------------------------------------------------
# lab_vars INVENTORY: NAME, KEY, KH, and hosts.json of the lab's hosts.
lab_vars() {
    NAME=$(sed -n 's/^  name: //p' "$1" | head -1)
    KEY=/var/lib/mailctl/lab/$NAME/id_ed25519
    KH=/var/lib/mailctl/lab/$NAME/known_hosts
    # PyYAML comes with policyd-rate-limit, which install-deps.sh installs.
    "$PY" -c '
import json, sys, yaml
hosts = yaml.safe_load(open(sys.argv[1]))["hosts"]
print(json.dumps([{"name": h["name"], "address": h["address"]} for h in hosts]))' "$1" >"$WORK/$NAME.hosts.json"
}
on() { ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o BatchMode=yes "root@$1" "${@:2}"; }
addresses() { "$PY" -c 'import json,sys; print(" ".join(h["address"] for h in json.load(open(sys.argv[1]))))' "$WORK/$NAME.hosts.json"; }

ansible_peer() { # INVENTORY -> $WORK/$NAME.ansible
    rm -rf "$WORK/$NAME.render" "$WORK/$NAME.ansible"
    "$BIN" render "$1" --out "$WORK/$NAME.render" >/dev/null
    "$PY" bench/ansible_peer.py "$WORK/$NAME.render" "$WORK/$NAME.hosts.json" "$WORK/$NAME.ansible" "$KEY" "$KH"
}
ansible_run() {
    (cd "$WORK/$NAME.ansible" && ANSIBLE_CONFIG=ansible.cfg "$WORK/venv/bin/ansible-playbook" -i hosts.ini site.yml)
}
# Appends a comment to chrony.conf on every host (in parallel): both tools must restore it
# and restart chrony.
drift() {
    local addr
    for addr in $(addresses); do on "$addr" 'echo "# drifted" >> /etc/chrony/chrony.conf' </dev/null & done
    wait
}

deploy_vs_ansible() { # INVENTORY LABEL
    local inv=$1 label=$2
    "$BIN" deploy "$inv" >/dev/null
    ansible_peer "$inv"
    ansible_run >"$WORK/ansible.first" 2>&1 || { cat "$WORK/ansible.first"; exit 1; }
    grep -q 'changed=0' "$WORK/ansible.first" || log "ansible's first run changed something (see $WORK/ansible.first)"
    timed "$WORK/m.noop" : "$BIN" deploy "$inv"
    timed "$WORK/a.noop" : ansible_run
    grep -q 'changed=[1-9]' "$WORK/last.out" && { echo "ansible changed files on a no-op run" >&2; exit 1; }
    timed "$WORK/m.drift" drift "$BIN" deploy "$inv"
    timed "$WORK/a.drift" drift ansible_run
    say "| $label: no-op deploy | $(stats "$WORK/m.noop") | $(stats "$WORK/a.noop") | $(ratio "$WORK/m.noop" "$WORK/a.noop") |"
    say "| $label: one drifted file per host restored, chrony restarted | $(stats "$WORK/m.drift") | $(stats "$WORK/a.drift") | $(ratio "$WORK/m.drift" "$WORK/a.drift") |"
}

# status vs `ssh HOST systemctl is-active UNITS`, one host after another and all at once.
status_vs_ssh() { # INVENTORY LABEL
    local inv=$1 label=$2
    "$PY" -c '
import json, sys
m = json.load(open(sys.argv[1] + "/manifest.json"))
hosts = {h["name"]: h["address"] for h in json.load(open(sys.argv[2]))}
for name, spec in m.items():
    units = sorted({c["unit"] for c in spec["components"] if c["unit"]} | {"ssh"})
    print(hosts[name], " ".join(units))' "$WORK/$NAME.render" "$WORK/$NAME.hosts.json" >"$WORK/$NAME.units"
    # (`addr`, not `a`: these run inside `timed`, whose `a` is the start time.)
    seq_loop() { while read -r addr units; do on "$addr" systemctl is-active $units >/dev/null </dev/null || true; done <"$WORK/$NAME.units"; }
    par_loop() {
        while read -r addr units; do on "$addr" systemctl is-active $units >/dev/null </dev/null & done <"$WORK/$NAME.units"
        wait
    }
    status_run() { "$BIN" status "$inv" >/dev/null || true; }
    timed "$WORK/m.status" : status_run
    timed "$WORK/s.seq" : seq_loop
    timed "$WORK/s.par" : par_loop
    local probes
    probes=$("$BIN" status "$inv" --format json | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["summary"]["probes"])')
    say "| $label: status ($probes protocol probes + units) | $(stats "$WORK/m.status") | sequential ssh loop $(stats "$WORK/s.seq") | $(ratio "$WORK/m.status" "$WORK/s.seq") |"
    say "| $label: status | $(stats "$WORK/m.status") | parallel ssh loop $(stats "$WORK/s.par") | $(ratio "$WORK/m.status" "$WORK/s.par") |"
}

{
    say "Run by \`bench/run.sh\` on $(date -u +%Y-%m-%d) on $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB,"
    say "$(. /etc/os-release && echo "$PRETTY_NAME"), mailctl $("$BIN" --version | cut -d' ' -f2) (release build),"
    say "$ANSIBLE_VERSION. The lab hosts share the machine's cores with mailctl and its peers."
    say ""
}

# ---- (1)-(3): the 4-host lab -------------------------------------------------------------
LAB=inventories/lab.yaml
lab_vars "$LAB"
log "lab of $LAB, from bare hosts"
"$BIN" lab down --purge "$LAB" >/dev/null 2>&1 || true
a=$(now)
"$BIN" lab up "$LAB" >/dev/null
b=$(now)
"$BIN" deploy "$LAB" >/dev/null
c=$(now)
say "4 lab hosts (inventories/lab.yaml): booted in $(elapsed "$a" "$b") s; full deploy from bare hosts (packages from the"
say "lab's repository, every file checked, the directory and its accounts) $(elapsed "$b" "$c") s."
say ""
N=$RUNS
say "### Deploy and status beside ansible-core and ssh ($RUNS runs each, median (min–max))"
say ""
say "| what | mailctl | peer | ratio mailctl/peer |"
say "|---|---|---|---|"
deploy_vs_ansible "$LAB" "4 lab hosts"
status_vs_ssh "$LAB" "4 lab hosts"

# ---- (4): mail flow ----------------------------------------------------------------------
log "mail flow"
MTA=$("$PY" -c 'import json,sys; print([h["address"] for h in json.load(open(sys.argv[1])) if h["name"] == "transport"][0])' "$WORK/$NAME.hosts.json")
PW=$(cat inventories/lab-credentials/siti.pw)
flow() { "$PY" bench/mailflow.py delivery "$MTA" "$MTA" siti@tgg.net.id "$PW" "$@"; }
row() { # LABEL JSON
    "$PY" -c '
import json, sys
r = json.loads(sys.argv[2]); d = r["delay_s"]
print("| %s | %s/%s accepted, %s delivered | %s/s | %s/s | %s / %s / %s / %s s |" % (sys.argv[1],
      r["accepted"], r["messages"], r["delivered"], r["accepted_per_s"], r["delivered_per_s"],
      d["p50"], d["p95"], d["p99"], d["max"]))' "$1" "$2"
}
say ""
say "### Mail flow on the 4-host lab (SMTP to transport:25, seen over IMAP through the proxy)"
say ""
say "| load | messages | accepted /s | delivered /s | delay p50 / p95 / p99 / max |"
say "|---|---|---|---|---|"
say "$(row "small (~300 B) at 50/s" "$(flow --rate 50 --count 1000)")"
say "$(row "small at 200/s" "$(flow --rate 200 --count 2000 --senders 8)")"
say "$(row "10 MB attachment, 1 every 4 s" "$(flow --rate 0.25 --count 5 --size 10000000 --senders 1)")"
say "$(row "20 MB attachment, 1 every 4 s" "$(flow --rate 0.25 --count 5 --size 20000000 --senders 1)")"
LOGINS=$("$PY" bench/mailflow.py logins "$MTA" siti@tgg.net.id "$PW" --seconds 10 --workers 8)
say ""
say "IMAP logins through the proxy (TLS on 993, LOGIN, LOGOUT; 8 clients for 10 s): $(echo "$LOGINS" | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print("%s/s, %s errors" % (r["logins_per_s"], r["errors"]))')."

# ---- (5): a bigger lab -------------------------------------------------------------------
if [ -z "${SKIP_BIG:-}" ]; then
    log "lab of $HOSTS hosts"
    BIG=$WORK/big.yaml
    {
        cat <<YAML
# Generated by bench/run.sh: $HOSTS lab hosts.
cluster:
  name: benchlab
  domains: [bench.example.org]
  timezone: UTC
  public_name: mail.bench.example.org
lab:
  subnet: 10.95.0.0/24
  bridge: mailctl-b0
ssh:
  user: root
  identity_file: /var/lib/mailctl/lab/benchlab/id_ed25519
  known_hosts: /var/lib/mailctl/lab/benchlab/known_hosts
hosts:
  - { name: ldap, address: 10.95.0.2, fqdn: ldap.bench.example.org, roles: [ldap, dns] }
  - { name: mta-1, address: 10.95.0.3, fqdn: mta-1.bench.example.org, roles: [mta, proxy] }
  - { name: mta-2, address: 10.95.0.4, fqdn: mta-2.bench.example.org, roles: [mta] }
  - { name: proxy, address: 10.95.0.5, fqdn: proxy.bench.example.org, roles: [proxy] }
YAML
        for i in $(seq 1 $((HOSTS - 4))); do
            echo "  - { name: mbox-$i, address: 10.95.0.$((5 + i)), fqdn: mbox-$i.bench.example.org, roles: [mailbox] }"
        done
    } >"$BIG"
    lab_vars "$BIG"
    "$BIN" lab down --purge "$BIG" >/dev/null 2>&1 || true
    a=$(now)
    "$BIN" lab up "$BIG" >/dev/null
    b=$(now)
    "$BIN" deploy "$BIG" --forks "$HOSTS" >/dev/null
    c=$(now)
    N=$BIG_RUNS
    say ""
    say "### $HOSTS lab hosts ($BIG_RUNS runs each)"
    say ""
    say "Bare hosts booted in $(elapsed "$a" "$b") s; full deploy from bare hosts (packages, every file checked, directory) $(elapsed "$b" "$c") s."
    say ""
    say "| what | mailctl | peer | ratio mailctl/peer |"
    say "|---|---|---|---|"
    deploy_vs_ansible "$BIG" "$HOSTS lab hosts"
    status_vs_ssh "$BIG" "$HOSTS lab hosts"
    # How status grows with hosts, and what --watch saves by keeping its connections.
    say ""
    say "| status of the first n hosts | median (min–max) |"
    say "|---|---|"
    names=$("$PY" -c 'import json,sys; print("\n".join(h["name"] for h in json.load(open(sys.argv[1]))))' "$WORK/$NAME.hosts.json")
    N=$RUNS
    for n in $(printf '%s\n' 1 2 4 8 16 | awk -v max="$HOSTS" '$1 < max') "$HOSTS"; do
        subset=$(echo "$names" | head -n "$n" | paste -sd, -)
        subset_status() { "$BIN" status "$BIG" --host "$subset" >/dev/null || true; }
        timed "$WORK/m.subset" : subset_status
        say "| $n | $(stats "$WORK/m.subset") |"
    done
    # SIGTERM, not SIGINT: a background job (cron, `&`) runs with SIGINT ignored.
    timeout -k 2 8 "$BIN" status "$BIG" --format json --watch 1 |
        awk -F': ' '/^  "seconds"/ { sub(",", "", $2); print $2 }' >"$WORK/rounds" || true
    tail -n +2 "$WORK/rounds" >"$WORK/later"
    say ""
    say "\`--watch 1\` on $HOSTS hosts: the first round (SSH logins) $(head -1 "$WORK/rounds") s, the $(wc -l <"$WORK/later") later ones (connections kept) $(stats "$WORK/later")."
    "$BIN" lab down --purge "$BIG" >/dev/null
fi

# ---- (6): the move -----------------------------------------------------------------------
if [ -z "${SKIP_MOVE:-}" ]; then
    log "move benchmark"
    lab_vars "$LAB"
    say ""
    say "### move-account (scripts/bench-move.sh: 10,000 messages of ~50 KB under a 100 ms sender)"
    say ""
    say '```'
    bash scripts/bench-move.sh "$LAB" | tee -a "$OUT" >/dev/null
    say '```'
fi

# ---- into BENCHMARKS.md ------------------------------------------------------------------
"$PY" - "$OUT" <<'PY'
import sys
begin, end = "<!-- bench/run.sh: begin -->", "<!-- bench/run.sh: end -->"
text = open("BENCHMARKS.md").read()
block = f"{begin}\n{open(sys.argv[1]).read().rstrip()}\n{end}"
if begin in text:
    head, rest = text.split(begin, 1)
    text = head + block + rest.split(end, 1)[1]
else:
    text = text.rstrip() + "\n\n## The harness (`bench/run.sh`)\n\n" + block + "\n"
open("BENCHMARKS.md", "w").write(text)
PY
echo "bench: results in $OUT and BENCHMARKS.md"
