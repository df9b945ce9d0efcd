#!/usr/bin/env bash
# Installs what mailctl's build and tests need on a Debian 12 machine (run as root).
# The mail services are installed only so their own config checkers (postconf, doveconf,
# slaptest, nginx -t, haproxy -c, keepalived -t, named-checkzone) can judge rendered files:
# a policy-rc.d keeps apt from starting any daemon on this machine.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (it uses apt-get)" >&2
    exit 2
fi

CHECKER_PACKAGES=(
    slapd ldap-utils
    postfix postfix-ldap
    dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-ldap dovecot-sieve dovecot-managesieved
    php-cli php-fpm postgresql
    nginx haproxy keepalived
    bind9 bind9-utils
    chrony policyd-rate-limit
)
TOOL_PACKAGES=(ca-certificates openssl python3 iproute2 debootstrap systemd-container swaks
    nftables iptables
    bash-completion man-db
    zstd dpkg-dev
    python3-jsonschema python3-prometheus-client python3-dkim python3-dnspython
    chromium python3-venv)

missing=()
for p in "${CHECKER_PACKAGES[@]}" "${TOOL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Preseed the two packages that ask questions, so apt never waits for an answer.
    debconf-set-selections <<'SEL'
slapd slapd/no_configuration boolean true
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
SEL
    # Nothing this script installs may start on the build machine.
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [ -e "$policy" ] && had_policy=1
    if [ $had_policy -eq 0 ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The webmail test drives Debian's chromium with Playwright (its Python package brings its own
# driver; no browser is downloaded), in a virtualenv of Debian's python3 so the system's
# packages stay as apt left them.
VENV=/opt/mailctl-test-venv
PLAYWRIGHT=playwright==1.65.2
if ! "$VENV/bin/python" -c "import playwright" 2>/dev/null; then
    echo "install-deps: installing $PLAYWRIGHT into $VENV"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "$PLAYWRIGHT"
fi
echo "install-deps: all packages present"
