#!/usr/bin/env bash
# Install everything and run every check: ruff lint, ruff format, mypy, the whole pytest suite.
# Exits non-zero if any of them fails (pytest's "no tests collected", exit 5, included).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/bootstrap.sh || exit 1

failed=()
echo "== ruff check"
.venv/bin/ruff check . || failed+=("ruff check")
echo "== ruff format --check"
.venv/bin/ruff format --check . || failed+=("ruff format")
echo "== mypy"
.venv/bin/mypy || failed+=("mypy")
echo "== pytest"
.venv/bin/pytest -p no:cacheprovider -q -rfE --durations=10 </dev/null
status=$?
if ((status == 5)); then
    echo "test: pytest collected no tests" >&2
    failed+=("pytest (no tests)")
elif ((status != 0)); then
    failed+=("pytest (exit $status)")
fi

if ((${#failed[@]})); then
    echo "test: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "test: all checks passed"
