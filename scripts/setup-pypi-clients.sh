#!/usr/bin/env bash
# Creates .venv-pypi-client at the repository root: the real clients the end-to-end tests
# of the PyPI mirror drive (mirror_test_support::pip_install, uv_install): the venv's own
# pip, and uv, installed from the package registry as a wheel. Then downloads the real
# wheels of scripts/pypi-test-wheels.txt (digests pinned) into .cache/pypi-wheels, for
# CPython 3.11 and 3.12 on manylinux x86_64. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION="0.13.9"
VENV=".venv-pypi-client"
if [ -x "$VENV/bin/uv" ] && [ "$("$VENV/bin/uv" --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2), uv $UV_VERSION already there"
else
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
  echo "$VENV: pip $("$VENV/bin/python" -m pip --version | cut -d' ' -f2), uv $UV_VERSION installed"
fi
WHEELS=".cache/pypi-wheels"
mkdir -p "$WHEELS"
for python in 3.11 3.12; do
  "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
    --require-hashes --only-binary :all: --python-version "$python" \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -r scripts/pypi-test-wheels.txt -d "$WHEELS"
done
echo "$WHEELS: $(ls "$WHEELS" | wc -l) wheels"
