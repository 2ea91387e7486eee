#!/usr/bin/env bash
# Installs what the end-to-end tests drive, idempotently:
# - apt-get, gpgv, dpkg: real APT client checks (Debian ships them; installed if absent);
# - gpg (gnupg): our signatures' keyrings dearmored by the real gpg;
# - systemd-analyze: the shipped units are verified by it (package systemd);
# - flock, mkfifo: util-linux and coreutils, for lock and hostile-media tests;
# - python3 with its venv module (python3-venv);
# - py-rattler in .venv-conda-client: the real conda client (scripts/setup-conda-client.sh).
# - pip in .venv-pypi-client: the real PyPI client (scripts/setup-pypi-clients.sh).
# - sstream-query/sstream-mirror in .venv-simplestreams (scripts/setup-simplestreams-client.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in apt-get gpgv gpg dpkg python3 systemd-analyze flock mkfifo df; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  pkgs=()
  for t in "${missing[@]}"; do
    case "$t" in apt-get) pkgs+=(apt);; python3) pkgs+=(python3 python3-venv);; systemd-analyze) pkgs+=(systemd);;
      flock) pkgs+=(util-linux);; mkfifo|df) pkgs+=(coreutils);; gpg) pkgs+=(gnupg);;
      *) pkgs+=("$t");; esac
  done
  apt-get update -qq && apt-get install -y -qq "${pkgs[@]}"
fi
# python3 may be there without its venv module (Debian splits it out).
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "installing: python3-venv"
  apt-get update -qq && apt-get install -y -qq python3-venv
fi
if [ -f scripts/setup-conda-client.sh ]; then
  bash scripts/setup-conda-client.sh
fi
if [ -f scripts/setup-pypi-clients.sh ]; then
  bash scripts/setup-pypi-clients.sh
fi
if [ -f scripts/setup-simplestreams-client.sh ]; then
  bash scripts/setup-simplestreams-client.sh
fi
