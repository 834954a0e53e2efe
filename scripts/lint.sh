#!/usr/bin/env bash
# Lint and architecture checks (CI runs them): ruff, then import-linter's contracts (.importlinter).
# import-linter reads packages as folders named like their imports, so it checks a plain
# (non-editable) install of this checkout in a temporary folder, not the editable mapping.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m ruff check .
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip install -q --no-deps --no-build-isolation --target "$tmp/site" . 2>&1 | grep -v -i "warning" || true
(cd "$tmp" && PYTHONPATH="$tmp/site" "$OLDPWD/.venv/bin/lint-imports" "$OLDPWD/.importlinter" --no-cache)
