#!/usr/bin/env bash
# conda at scale, run by hand (not in CI; issue 13, item 5): a generated channel of
# $RECORDS records ($RECORDS / 10 names, ten versions each, real tiny .tar.bz2 packages;
# each name depends on the first of its group of ten)
# in linux-64, served on loopback by Python's HTTP server with a real listen backlog, and
# in the same run:
#   1. mirror-cli, unfiltered: first sync (every package, the shards published);
#   2. mirror-cli: the no-op sync of the unchanged channel;
#   3. mirror-cli, $SPECS names selected (with their dependency closure): first sync;
#   4. conda-mirror 0.10 (from PyPI, in a venv made here): the same unfiltered mirror.
# Each step runs under /usr/bin/time -v; the table gives wall time, peak RSS, and the
# requests and bytes the upstream served for it. Timings are this machine's, this run.
#
# Usage: benches/conda-scale.sh
#   RECORDS=46500                   records in linux-64 (conda-forge's linux-64 is ~465000:
#                                   RECORDS=465000 takes tens of minutes here)
#   SPECS=20                        names in the filtered mirror's specs
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   CONDA_MIRROR_SECONDS=600        bound on conda-mirror's run: it mirrors ~14 packages/s
#                                   here, so at 46,500 records it is stopped there and the
#                                   packages it had by then are reported
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs: python3 with venv, pip access to PyPI (conda-mirror), /usr/bin/time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
records=${RECORDS:-46500}
specs=${SPECS:-20}

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing time=time
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "generating $records records..." >&2
python3 - "$work/channel" "$records" <<'PY'
import bz2, hashlib, io, json, os, sys, tarfile, time
root, n = sys.argv[1], int(sys.argv[2])
names = max(1, n // 10)
for sub in ("linux-64", "noarch"):
    os.makedirs(os.path.join(root, sub))
packages = {}
for i in range(n):
    name, version = f"pkg{i % names:06d}", f"1.{i // names}"
    filename = f"{name}-{version}-h0_0.tar.bz2"
    index = {"name": name, "version": version, "build": "h0_0", "build_number": 0,
             # Each name needs the first name of its group of ten: a spec's closure is
             # two names, not the channel.
             "depends": [] if (i % names) % 10 == 0 else [f"pkg{(i % names) // 10 * 10:06d} >=1.0"],
             "subdir": "linux-64",
             "license": "MIT"}
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = json.dumps(index).encode()
        info = tarfile.TarInfo("info/index.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    blob = bz2.compress(data.getvalue())
    with open(os.path.join(root, "linux-64", filename), "wb") as f:
        f.write(blob)
    packages[filename] = dict(index, size=len(blob), timestamp=1700000000000 + i,
                              sha256=hashlib.sha256(blob).hexdigest(),
                              md5=hashlib.md5(blob).hexdigest())
old = time.time() - 3600
for sub, pkgs in (("linux-64", packages), ("noarch", {})):
    path = os.path.join(root, sub, "repodata.json")
    with open(path, "w") as f:
        json.dump({"info": {"subdir": sub}, "packages": pkgs, "packages.conda": {},
                   "removed": [], "repodata_version": 1}, f, indent=1)
    os.utime(path, (old, old))
PY
decoded=$(stat -c %s "$work/channel/linux-64/repodata.json")

python3 -u - "$work/channel" >"$work/server.out" 2>"$work/server.log" <<'PY' &
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        # One line per request: method, path, status and the bytes of the body sent.
        sys.stderr.write("%s %s\n" % (self.requestline, args[1] if len(args) > 1 else "-"))
    def copyfile(self, source, outputfile):
        n = 0
        while chunk := source.read(1 << 16):
            outputfile.write(chunk)
            n += len(chunk)
        sys.stderr.write("BYTES %d\n" % n)
handler = functools.partial(Handler, directory=sys.argv[1])
with Server(("127.0.0.1", 0), handler) as httpd:
    print(f"Serving HTTP on 127.0.0.1 port {httpd.server_address[1]} (backlog 128)", flush=True)
    httpd.serve_forever()
PY
server_pid=$!
port=$(wait_for_port "$work/server.out")
url=http://127.0.0.1:$port

rows=()
# timed STEP COMMAND...: wall seconds, peak RSS (MB), requests and body bytes served.
# A command stopped by `timeout` (status 124) is recorded as such, not a failure.
timed() {
    local step=$1 log=$work/$1
    shift
    local before_req before_bytes status=0
    before_req=$(grep -c '^GET ' "$work/server.log" || true)
    before_bytes=$(awk '/^BYTES/ { s += $2 } END { print s + 0 }' "$work/server.log")
    /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>&1 || status=$?
    if [ "$status" = 124 ]; then
        step="$step(stopped)"
    elif [ "$status" != 0 ]; then
        echo "FAILED: $step: $*" >&2
        tail -5 "$log.out" >&2
        exit 1
    fi
    local requests bytes wall rss
    requests=$(( $(grep -c '^GET ' "$work/server.log" || true) - before_req ))
    bytes=$(( $(awk '/^BYTES/ { s += $2 } END { print s + 0 }' "$work/server.log") - before_bytes ))
    wall=$(time_wall "$log.time")
    rss=$(time_rss_mb "$log.time")
    rows+=("$step $wall $rss $requests $bytes")
}

mkdir -p "$work/keys"
"$cli" --config "$work/k.toml" keygen --out "$work/keys/signing.asc" >/dev/null
config() { # NAME [SPECS]
    printf 'store = "%s/store-%s"\n[fetch]\nmax_index_size = "4G"\n[[conda]]\nname = "%s"\nurl = "%s"\nsubdirs = ["linux-64"]\n' \
        "$work" "$1" "$1" "$url"
    [ -n "${2:-}" ] && printf 'specs = [%s]\n' "$2"
    true
}
config all >"$work/all.toml"
selected=$(python3 -c "import sys; n=max(1,int(sys.argv[1])//10); k=int(sys.argv[2]); print(', '.join('\"pkg%06d\"' % (i * max(1, n // k)) for i in range(k)))" "$records" "$specs")
config some "$selected" >"$work/some.toml"

timed mirror-cli-unfiltered "$cli" --config "$work/all.toml" sync
timed mirror-cli-no-op "$cli" --config "$work/all.toml" sync
timed mirror-cli-${specs}-specs "$cli" --config "$work/some.toml" sync

python3 -m venv "$work/venv" >/dev/null
"$work/venv/bin/pip" install -q "conda-mirror==0.10.*"
timed conda-mirror-unfiltered timeout "${CONDA_MIRROR_SECONDS:-600}" \
    "$work/venv/bin/conda-mirror" --upstream-channel "$url" \
    --target-directory "$work/conda-mirror" --platform linux-64 --num-threads 2 --no-progress
conda_mirrored=$(find "$work/conda-mirror/linux-64" -name '*.tar.bz2' 2>/dev/null | wc -l)

shards=$(find -L "$work/store-all/public/all/linux-64/shards" -type f | wc -l)
echo
echo "linux-64: $records records, $(( records / 10 )) names, repodata.json $decoded bytes; $shards shards published"
echo "conda-mirror had $conda_mirrored of $records packages when it ended"
printf '%-24s %8s %12s %9s %14s\n' step wall_s peak_rss_MB requests bytes_served
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-24s %8s %12s %9s %14s\n' $row
done
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
