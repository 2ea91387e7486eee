#!/usr/bin/env bash
# Parse benchmark, run by hand (not in CI): a real plain Packages index (the bookworm
# fixture's, 63,444 stanzas, decoded once to a temp file) read as whole processes by
# libapt-pkg's TagFile (python3-apt, reading Package, Depends and SHA256 of every
# stanza) and by `mirror-cli inspect` (every stanza's Package, Architecture and Size), in
# the same run: hyperfine for wall time, /usr/bin/time -v for peak RSS. The in-process
# parser benchmark against the debian-packaging crate is benches/apt-peer.
#
# Usage: benches/parse-vs-libapt.sh
#   MIRROR_FIXTURES=DIR             the fixture tree (default: the repository's tests/fixtures)
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
# Needs root (or the packages installed) for: apt-get install -y python3-apt hyperfine time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${MIRROR_FIXTURES:-$repo/tests/fixtures}
# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing hyperfine=hyperfine time=time
/usr/bin/python3 -c 'import apt_pkg' 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3-apt
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
packages=$work/Packages
xz -dc "$fixtures/debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz" >"$packages"
cat >"$work/tagfile.py" <<'PY'
import sys
import apt_pkg

n = 0
with apt_pkg.TagFile(sys.argv[1]) as tags:
    for section in tags:
        section.get("Package")
        section.get("Depends")
        section.get("SHA256")
        n += 1
print(n, "stanzas")
PY
echo "stanzas: libapt-pkg $(/usr/bin/python3 "$work/tagfile.py" "$packages"), mirror-cli $("$cli" --json inspect "$packages" | python3 -c 'import json, sys; print(json.load(sys.stdin)["stanzas"])')"
hyperfine --warmup 3 --runs 20 --export-json "$work/times.json" \
    -n libapt-pkg "/usr/bin/python3 $work/tagfile.py $packages" \
    -n mirror-cli "$cli --json inspect $packages" >&2
rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n1; }
libapt_kb=$(rss /usr/bin/python3 "$work/tagfile.py" "$packages")
ours_kb=$(rss "$cli" --json inspect "$packages")
python3 - "$work/times.json" "$libapt_kb" "$ours_kb" "$(stat -c %s "$packages")" <<'PY'
import json, sys
times = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
libapt, ours = times["libapt-pkg"], times["mirror-cli"]
size_mb = int(sys.argv[4]) / 1e6
print(f"Packages: {size_mb:.1f} MB")
for name, r, kb in (("libapt-pkg", libapt, sys.argv[2]), ("mirror-cli", ours, sys.argv[3])):
    print(f"{name:11} median {r['median']:.3f} s (min {r['min']:.3f}, max {r['max']:.3f}), "
          f"peak RSS {int(kb) / 1024:.1f} MB ({int(kb) / 1024 / size_mb:.2f}x the file)")
print(f"ratio: mirror-cli {libapt['median'] / ours['median']:.2f}x libapt-pkg's speed")
PY
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
