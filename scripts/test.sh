#!/usr/bin/env bash
# The full test suite, as CI runs it: installs what the tests need (Debian packages whose
# config checkers judge the rendered files), then format, lints and every test.
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
cargo test --locked
