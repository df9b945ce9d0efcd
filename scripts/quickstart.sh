#!/usr/bin/env bash
# First run on a fresh Debian 12 machine (as root): installs what mailctl needs, builds it,
# checks the lab inventory, renders every lab host's configuration, brings the lab's hosts
# up, deploys the cluster onto them and prints the status of every service on every host.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked
# mailctl on PATH, with its shell completions and man pages (generated from its own --help).
install -m 0755 target/release/mailctl /usr/local/bin/mailctl
mailctl completions bash > /etc/bash_completion.d/mailctl
mailctl completions man --out /usr/local/share/man/man1
mandb -q 2>/dev/null || true
bin=mailctl
out=${MAILCTL_RENDER_OUT:-/var/tmp/mailctl-lab-render}

"$bin" validate inventories/lab.yaml
"$bin" render inventories/lab.yaml --out "$out"
"$bin" lab up inventories/lab.yaml
"$bin" deploy inventories/lab.yaml
"$bin" status inventories/lab.yaml --format table
echo
echo "Send a message: swaks --server 10.99.0.4 --to siti@tgg.net.id (or any SMTP client); read it over"
echo "IMAP at 10.99.0.4:143 as siti@tgg.net.id, password in inventories/lab-credentials/siti.pw."
echo "Webmail (Roundcube, filters and out-of-office): https://10.99.0.4/ as siti@tgg.net.id; its"
echo "certificate is from the lab's own CA, so a browser asks once (curl -k https://10.99.0.4/ shows the page)."
echo "Rendered files are under $out/<host>/; $out/manifest.json says which service owns each."
echo "Generated secrets and the lab's cluster CA: inventories/lab.state.yaml (mode 0600)."
echo "Log in to a lab host: ssh -i /var/lib/mailctl/lab/tgg-lab/id_ed25519 \\"
echo "  -o UserKnownHostsFile=/var/lib/mailctl/lab/tgg-lab/known_hosts root@10.99.0.3"
echo "Status in zmcontrol form, or for monitoring: $bin status inventories/lab.yaml --format zmcontrol|nagios|prometheus|json"
echo "Tear the lab down: $bin lab down --purge inventories/lab.yaml"
