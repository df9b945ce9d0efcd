#!/usr/bin/env bash
# First run on a fresh Debian 12 machine (as root): installs what mailctl needs, builds it,
# checks the lab inventory and renders every lab host's configuration.
# (`mailctl lab up` and `mailctl deploy` join this script when they land.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked
bin=target/release/mailctl
out=${MAILCTL_RENDER_OUT:-/var/tmp/mailctl-lab-render}

"$bin" validate inventories/lab.yaml
"$bin" render inventories/lab.yaml --out "$out"
echo
echo "Rendered files are under $out/<host>/; $out/manifest.json says which service owns each."
echo "Generated secrets and the lab's cluster CA: inventories/lab.state.yaml (mode 0600)."
