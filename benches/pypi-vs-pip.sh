#!/usr/bin/env bash
# PyPI mirroring against `pip download`, run by hand (not in CI; issue 15, item 7): the
# closure of a realistic set of top-level requirements for two CPython versions on
# manylinux x86_64, from a live simple index, by mirror-cli (a fresh store each run: the
# whole resolve, fetch, verify and publish) and by pip download (one run per Python
# version, into a fresh directory, no cache), alternating, in the same run.
#
# Usage: PYPI_URL=https://HOST/simple benches/pypi-vs-pip.sh
#   PYPI_URL                        the simple index (required: no index host is written
#                                   into the repository)
#   REQUIREMENTS="a b>=1 ..."       the top-level requirements (default: 30 of a typical
#                                   web service and data stack, below)
#   PYTHONS="3.11 3.12"             target CPythons
#   RUNS=3                          alternating runs of each side
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   SECONDS_BOUND=900               bound on each run (`timeout`)
# Needs: .venv-pypi-client (scripts/setup-pypi-clients.sh), /usr/bin/time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
: "${PYPI_URL:?set PYPI_URL to a simple index, e.g. https://HOST/simple}"
read -r -a requirements <<<"${REQUIREMENTS:-requests rich pydantic fastapi uvicorn httpx click jinja2 sqlalchemy alembic psycopg2-binary redis celery boto3 pyyaml python-dateutil pytz numpy pandas pillow lxml beautifulsoup4 cryptography paramiko pytest black mypy tqdm attrs orjson}"
read -r -a pythons <<<"${PYTHONS:-3.11 3.12}"
runs=${RUNS:-3}
bound=${SECONDS_BOUND:-900}
python=$repo/.venv-pypi-client/bin/python
[ -x "$python" ] || { echo "run scripts/setup-pypi-clients.sh first" >&2; exit 1; }

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing time=time
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
toml_list() { printf '"%s", ' "$@" | sed 's/, $//'; }

# Each side is a script of its own, so that /usr/bin/time measures the whole process tree.
cat >"$work/ours.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
dir=$work/ours-\$1
mkdir -p "\$dir"
cat >"\$dir/mirror.toml" <<TOML
store = "\$dir/store"
[[pypi]]
name = "pypi"
url = "$PYPI_URL"
requirements = [$(toml_list "${requirements[@]}")]
python = [$(toml_list "${pythons[@]}")]
platforms = ["manylinux_2_28_x86_64"]
TOML
timeout $bound "$cli" --config "\$dir/mirror.toml" --json sync >"\$dir/report.json"
SH
# pip does not expand a manylinux platform to the older glibc tags it accepts: name the
# ones wheels are built for.
cat >"$work/pip_download.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
for py in ${pythons[*]}; do
    timeout $bound "$python" -m pip download -q --isolated --disable-pip-version-check \\
        --no-cache-dir --only-binary :all: --python-version "\$py" \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \\
        --platform manylinux2014_x86_64 --index-url "$PYPI_URL" -d "$work/pip-\$1" \\
        ${requirements[*]}
done
SH

rows=()
for run in $(seq "$runs"); do
    for side in ours pip_download; do
        /usr/bin/time -v -o "$work/time" bash "$work/$side.sh" "$run"
        rows+=("$side $run $(time_wall "$work/time") $(time_rss_mb "$work/time")")
    done
done

printf '\n%-13s %4s %9s %12s\n' side run wall_s peak_rss_MB
printf '%-13s %4s %9s %12s\n' $(printf '%s\n' "${rows[@]}")
median() {
    local values
    mapfile -t values < <(printf '%s\n' "${rows[@]}" | awk -v s="$1" '$1 == s { print $3 }' | sort -n)
    echo "${values[$(((${#values[@]} - 1) / 2))]}"
}
ours_median=$(median ours)
pip_median=$(median pip_download)
echo "median wall: mirror-cli $ours_median s, pip download $pip_median s; ratio (pip / ours) $(awk -v a="$pip_median" -v b="$ours_median" 'BEGIN { printf "%.1f", a / b }')x"
jq -r '.mirrors[0] | "ours: \(.summary.releases | length) projects, \(.summary.files) files, \(.fetched.requests) requests, \(.fetched.bytes) bytes"' \
    "$work/ours-1/report.json" 2>/dev/null || true
echo "pip: $(ls "$work/pip-1" | wc -l) files, $(du -sb "$work/pip-1" | cut -f1) bytes"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
