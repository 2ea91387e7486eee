#!/usr/bin/env bash
# Installs what the end-to-end tests drive, idempotently:
# - apt-get, gpgv, dpkg: real APT client checks (Debian ships them; installed if absent);
# - py-rattler in .venv-conda-client: the real conda client (scripts/setup-conda-client.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in apt-get gpgv dpkg python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  pkgs=()
  for t in "${missing[@]}"; do
    case "$t" in apt-get) pkgs+=(apt);; python3) pkgs+=(python3 python3-venv);; *) pkgs+=("$t");; esac
  done
  apt-get update -qq && apt-get install -y -qq "${pkgs[@]}"
fi
if [ -f scripts/setup-conda-client.sh ]; then
  bash scripts/setup-conda-client.sh
fi
