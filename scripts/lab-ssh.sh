# Sourced by the bench scripts: `on HOST CMD...` runs CMD as root on a lab host of the
# inventory $INV over SSH, with the lab's key and known_hosts; `addr HOST` is its address.
NAME=$(sed -n 's/^  name: //p' "$INV" | head -1)
KEY=/var/lib/mailctl/lab/$NAME/id_ed25519
KH=/var/lib/mailctl/lab/$NAME/known_hosts
addr() { sed -n "s/.*name: $1, address: \([0-9.]*\).*/\1/p" "$INV"; }
on() { local h=$1; shift; ssh -i "$KEY" -o UserKnownHostsFile="$KH" -o BatchMode=yes "root@$(addr "$h")" "$@"; }
