#!/usr/bin/env bash
# Creates .venv-pypi-client at the repository root: the real pip the end-to-end tests of
# the PyPI mirror drive (mirror_test_support::pip_install). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-pypi-client"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2) already there"
  exit 0
fi
python3 -m venv "$VENV"
echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2) installed"
