#!/usr/bin/env bash
# Creates .venv-simplestreams at the repository root: the real simplestreams client the
# end-to-end tests of the simplestreams mirror drive (sstream-query, sstream-mirror from
# the python-simplestreams package, pinned by digest), which checks signatures with the
# system's gpgv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=".venv-simplestreams"
VERSION="0.1.0.post59"
if [ -x "$VENV/bin/sstream-query" ]; then
  echo "$VENV: python-simplestreams already there"
  exit 0
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
echo "python-simplestreams==$VERSION --hash=sha256:c78fea32d2269ff4f699557362eee76bef8df1f2c13e76d1b27a4875f1d8f870" >"$requirements"
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$requirements"
echo "$VENV: python-simplestreams $VERSION installed"
