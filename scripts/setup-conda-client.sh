#!/usr/bin/env bash
# Creates .venv-conda-client at the repository root with py-rattler, the real conda client
# the end-to-end tests drive (tests/support/conda_client.py). Idempotent: does nothing when
# the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="0.28.0"
VENV=".venv-conda-client"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("py-rattler") == sys.argv[1] else 1)
PY
then
  echo "$VENV: py-rattler $VERSION already installed"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "py-rattler==$VERSION"
echo "$VENV: py-rattler $VERSION installed"
