#!/usr/bin/env bash
# The full test suite, as CI runs it: installs what the tests need (Debian packages whose
# config checkers judge the rendered files), then format, lints and both test tiers.
# Run as root on Debian 12: the checker tests use mount namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        echo "test.sh: cargo ${component/rustfmt/fmt} is missing: rustup component add $component" >&2
        exit 2
    fi
done
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
# The fast tier: unit, fake-host, render and validation tests (any user, about a minute).
cargo test --locked
# The lab tier: real hosts and config checkers, as root. One lab per test file, shared by
# its scenarios, which run one at a time in name order; every file runs even when one fails.
# Its labs run Debian 12, except the accounts lab, which mixes 12 and 13 (every move
# crosses Dovecot 2.3 and 2.4); the checker tests judge every inventory on both releases.
status=0
cargo test --locked --no-fail-fast -- --ignored --test-threads=1 || status=$?
# The same lab tests again with every host on Debian 13 (docs/testing.md).
MAILCTL_TEST_OS=debian-13 cargo test --locked --no-fail-fast \
    --test deploy --test status --test webmail --test hardening --test filter --test field --test pairs --test lab \
    -- --ignored --test-threads=1 || status=$?
exit "$status"
