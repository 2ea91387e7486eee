#!/usr/bin/env bash
# Creates .venv-pypi-client at the repository root: the real clients the end-to-end tests
# of the PyPI mirror drive (mirror_test_support::pip_install, uv_install): the venv's own
# pip, and uv, installed from the package registry as a wheel. Idempotent: does nothing
# when the pinned uv is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="0.13.9"
VENV=".venv-pypi-client"
if [ -x "$VENV/bin/uv" ] && [ "$("$VENV/bin/uv" --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2), uv $UV_VERSION already there"
  exit 0
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2), uv $UV_VERSION installed"
