#!/usr/bin/env bash
# The five field clusters rehearsed on their lab twins, release build, as root:
# - deploy of each twin from bare lab hosts, then a no-op re-deploy;
# - the VIP outage when the holder crashes (`lab power-cut`), seen by a client that opens an
#   IMAP session through the VIP every 50 ms (SMKNH and Excellent), and after it boots again;
# - the HAProxy tier (LV): SMTP sessions through HAProxy every 100 ms while one MTA stops.
#   scripts/bench-twins.sh [tgg lvlogistics hudedu excellent smknh]
#   OS=debian-13 scripts/bench-twins.sh ...    # every twin host on Debian 13 instead
# Twins are made in a temporary directory (names bench-<x>, subnets 10.70–74.0.0/24) and
# dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
CLUSTERS=${*:-tgg lvlogistics hudedu excellent smknh}
M=$PWD/target/release/mailctl
WORK=$(mktemp -d)
cargo build --release --quiet
declare -A NET=([tgg]=70 [lvlogistics]=71 [hudedu]=72 [excellent]=73 [smknh]=74)
cleanup() {
    for c in $CLUSTERS; do [ -f "$WORK/$c.twin.yaml" ] && $M lab down --purge "$WORK/$c.twin.yaml" >/dev/null 2>&1; done
    rm -rf "$WORK"
}
trap cleanup EXIT

now() { printf '%s' "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# Longest run of failed IMAP logins through HOST in seconds, polling every 50 ms until STOPFILE.
POLL='
import imaplib, os, ssl, sys, time
host, user, pw, stop = sys.argv[1:5]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
worst, since = 0.0, None
while not os.path.exists(stop):
    t = time.time()
    try:
        m = imaplib.IMAP4(host, 143, timeout=1); m.starttls(ssl_context=ctx); m.login(user, pw); m.logout()
        if since is not None: worst = max(worst, time.time() - since); since = None
    except Exception:
        if since is None: since = t
    time.sleep(0.05)
print("%.2f s%s" % (worst, " (still failing)" if since is not None else ""))
'
# Sessions through HAProxy every 100 ms until STOPFILE: "N ok, M failed".
SESSIONS='
import os, smtplib, sys, time
host, rcpt, stop = sys.argv[1:4]
ok = failed = 0
while not os.path.exists(stop):
    try:
        s = smtplib.SMTP(host, 25, timeout=10); s.ehlo("bench.example.org"); s.mail("b@example.org")
        code, _ = s.rcpt(rcpt); s.quit(); ok += code == 250; failed += code != 250
    except Exception:
        failed += 1
    time.sleep(0.1)
print(f"{ok} sessions ok, {failed} failed")
'
vip_outage() { # INV VIP HOLDER USER PASSWORD
    local stop=$WORK/stop out=$WORK/poll
    rm -f "$stop"
    python3 -c "$POLL" "$2" "$4" "$5" "$stop" > "$out" &
    sleep 2
    $M lab power-cut "$1" "$3" > /dev/null
    sleep 8
    touch "$stop"; wait
    echo "VIP outage, $3 crashed: $(cat "$out")"
    rm -f "$stop"
    python3 -c "$POLL" "$2" "$4" "$5" "$stop" > "$out" &
    $M lab up "$1" > /dev/null
    sleep 45
    touch "$stop"; wait
    echo "VIP outage while $3 boots and rejoins: $(cat "$out")"
}

for c in $CLUSTERS; do
    cp "inventories/$c.yaml" "$WORK/"
    INV=$WORK/$c.twin.yaml
    $M lab twin "$WORK/$c.yaml" --name "bench-$c" --subnet "10.${NET[$c]}.0.0/24" --bridge "mcbench${NET[$c]}" > /dev/null
    if [ -n "${OS:-}" ]; then sed -i "s/^cluster:\$/cluster:\n  os: $OS/" "$INV"; fi
    $M lab down --purge "$INV" > /dev/null 2>&1 || true
    $M lab up "$INV" > /dev/null
    t=$(now); $M deploy "$INV" > /dev/null; first=$(since "$t")
    t=$(now); $M deploy "$INV" > /dev/null; noop=$(since "$t")
    echo "== $c: deploy from bare hosts ${first} s, no-op re-deploy ${noop} s"
    pw() { tr -d '\n' < "$WORK/$c.twin-credentials/$1.pw"; }
    case $c in
    smknh)
        $M -i "$INV" account add pupil@smknh.sch.id --mailbox srv2 --password-file "$WORK/$c.twin-credentials/smknh_pw_admin.pw" > /dev/null
        sleep 2
        vip_outage "$INV" "10.${NET[$c]}.0.254" srv1 pupil@smknh.sch.id "$(pw smknh_pw_admin)"
        ;;
    excellent)
        sleep 2
        vip_outage "$INV" "10.${NET[$c]}.0.40" proxy-1 postmaster@excellent.co.id "$(pw exc_pw_postmaster)"
        ;;
    lvlogistics)
        stop=$WORK/stop; rm -f "$stop"
        python3 -c "$SESSIONS" "10.${NET[$c]}.0.85" admin@lvlogist.com "$stop" > "$WORK/sessions" &
        sleep 2
        ssh -i "/var/lib/mailctl/lab/bench-$c/id_ed25519" -o UserKnownHostsFile="/var/lib/mailctl/lab/bench-$c/known_hosts" \
            "root@10.${NET[$c]}.0.84" systemctl stop postfix
        sleep 10
        touch "$stop"; wait
        echo "HAProxy, gsmta2 stopped for 10 s under a session every 100 ms: $(cat "$WORK/sessions")"
        ;;
    esac
    $M lab down --purge "$INV" > /dev/null
done
