#!/usr/bin/env bash
# `mirror-cli serve` against nginx serving the same published tree, in the same run, with
# wrk as the client (run by hand, not in CI; issue 33). One store holds:
#   - a filtered APT mirror of the bookworm fixture (jq, sl, tree): its InRelease (a small
#     file every apt client fetches first) and .debs (the largest is the large-file case);
#   - a conda channel of 1,000 small packages made here: the shard pattern (many distinct
#     small files, fetched in random order).
# nginx (Debian's nginx-light: 2 workers, sendfile, no access log) and mirror-cli serve
# (release build) each serve <store>/public; wrk runs each case against each for
# $SECONDS_PER_CASE. Prints one table: requests/s, mean and p50/p99 latency, bytes/s, and
# the ratio mirror-cli / nginx. Timings are this machine's, in this run.
#
# Usage: benches/serve-vs-nginx.sh
#   MIRROR_FIXTURES=DIR             the fixture tree (default: the repository's tests/fixtures)
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   SECONDS_PER_CASE=10             wrk duration per case and server
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs root (or the packages already installed) for: apt-get install -y nginx-light wrk.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${MIRROR_FIXTURES:-$repo/tests/fixtures}
upstream_dir=$fixtures/debian-bookworm
duration=${SECONDS_PER_CASE:-10}

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing nginx=nginx-light wrk=wrk curl=curl
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- the store ---------------------------------------------------------------------
python3 - "$work/channel" <<'PY'
import bz2, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
subdir = os.path.join(root, "linux-64")
os.makedirs(subdir)
os.makedirs(os.path.join(root, "noarch"))
packages = {}
for n in range(1000):
    name = f"shard{n:04d}"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = json.dumps({"name": name, "version": "1.0", "build": "0",
                           "build_number": 0, "subdir": "linux-64"}).encode()
        info = tarfile.TarInfo("info/index.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    blob = bz2.compress(data.getvalue())
    filename = f"{name}-1.0-0.tar.bz2"
    with open(os.path.join(subdir, filename), "wb") as f:
        f.write(blob)
    packages[filename] = {
        "name": name, "version": "1.0", "build": "0", "build_number": 0,
        "depends": [], "subdir": "linux-64", "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(), "md5": hashlib.md5(blob).hexdigest(),
    }
for sub, pkgs in (("linux-64", packages), ("noarch", {})):
    with open(os.path.join(root, sub, "repodata.json"), "w") as f:
        json.dump({"info": {"subdir": sub}, "packages": pkgs, "packages.conda": {}}, f)
PY

mkdir -p "$work/keys"
"$cli" --config "$work/keygen.toml" keygen --out "$work/keys/signing.asc" >/dev/null
cat >"$work/mirror.toml" <<EOF
store = "store"
[signing]
key = "keys/signing.asc"
[[apt]]
name = "debian"
url = "file://$upstream_dir"
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
keyring = "$upstream_dir/keyrings/debian-archive-keyring.gpg"
packages = ["jq", "sl", "tree"]
[[conda]]
name = "shards"
url = "file://$work/channel"
subdirs = ["linux-64"]
EOF
"$cli" --config "$work/mirror.toml" sync >/dev/null
public=$work/store/public
small=/debian/dists/bookworm/InRelease
large_file=$(cd "$public/debian" && find -L pool -name '*.deb' -printf '%s %p\n' | sort -n | tail -1)
large=/debian/${large_file#* }
echo "small file: $small ($(stat -L -c %s "$public$small") bytes); large file: $large (${large_file%% *} bytes)"
(cd "$public/shards/linux-64" && ls -- *.tar.bz2) | sed 's|^|/shards/linux-64/|' >"$work/shards.txt"
cat >"$work/shards.lua" <<EOF
local paths = {}
for line in io.lines("$work/shards.txt") do paths[#paths + 1] = line end
math.randomseed(42)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
EOF

# --- the servers -------------------------------------------------------------------
ours_port=$(free_port)
"$cli" --config "$work/mirror.toml" serve --listen "127.0.0.1:$ours_port" 2>"$work/serve.log" &
pids+=($!)
nginx_port=$(free_port)
cat >"$work/nginx.conf" <<EOF
user root;
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    access_log off;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$nginx_port;
        root $public;
    }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for port in "$ours_port" "$nginx_port"; do
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port$small" 2>/dev/null && break
        sleep 0.1
    done
done

# --- the cases ---------------------------------------------------------------------
# run NAME PORT CONNECTIONS THREADS PATH [LUA]: one wrk run; prints
# "req/s mean_ms p50_ms p99_ms bytes_per_s".
to_ms() { # wrk's "1.23ms" / "456.00us" / "1.50s" -> milliseconds
    python3 -c 'import re,sys
v=sys.argv[1]; m=re.fullmatch(r"([0-9.]+)(us|ms|s|m)",v)
n=float(m.group(1)); print(round(n*{"us":0.001,"ms":1,"s":1000,"m":60000}[m.group(2)],3))' "$1"
}
to_bytes() { # "1.23GB" -> bytes
    python3 -c 'import re,sys
v=sys.argv[1]; m=re.fullmatch(r"([0-9.]+)(B|KB|MB|GB|TB)",v)
print(int(float(m.group(1))*{"B":1,"KB":1024,"MB":1024**2,"GB":1024**3,"TB":1024**4}[m.group(2)]))' "$1"
}
run() {
    local port=$2 conns=$3 threads=$4 path=$5 lua=${6:-} out
    local args=(-t"$threads" -c"$conns" -d"${duration}s" --latency)
    [ -n "$lua" ] && args+=(-s "$lua")
    out=$(wrk "${args[@]}" "http://127.0.0.1:$port$path")
    local rps mean p50 p99 tps
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    mean=$(to_ms "$(awk '/^ +Latency/ {print $2; exit}' <<<"$out")")
    p50=$(to_ms "$(awk '/^ +50%/ {print $2}' <<<"$out")")
    p99=$(to_ms "$(awk '/^ +99%/ {print $2}' <<<"$out")")
    tps=$(to_bytes "$(awk '/^Transfer\/sec/ {print $2}' <<<"$out")")
    local errors
    errors=$(awk '/Non-2xx|Socket errors/' <<<"$out")
    [ -n "$errors" ] && echo "  ($1: $errors)" >&2
    echo "$rps $mean $p50 $p99 $tps"
}

printf '| case | server | req/s | mean ms | p50 ms | p99 ms | MB/s |\n|---|---|---|---|---|---|---|\n'
summary=()
for case in "small 64 2 $small" "small-1conn 1 1 $small" "large 32 2 $large" "shards 64 2 /"; do
    read -r name conns threads path <<<"$case"
    lua=
    [ "$name" = shards ] && lua=$work/shards.lua
    nginx_row=$(run "$name" "$nginx_port" "$conns" "$threads" "$path" "$lua")
    ours_row=$(run "$name" "$ours_port" "$conns" "$threads" "$path" "$lua")
    for pair in "nginx:$nginx_row" "mirror-cli:$ours_row"; do
        server=${pair%%:*}
        read -r rps mean p50 p99 tps <<<"${pair#*:}"
        printf '| %s (%s conn) | %s | %s | %s | %s | %s | %.1f |\n' "$name" "$conns" "$server" \
            "$rps" "$mean" "$p50" "$p99" "$(python3 -c "print($tps/1e6)")"
    done
    read -r n_rps n_mean _ _ n_tps <<<"$nginx_row"
    read -r o_rps o_mean _ _ o_tps <<<"$ours_row"
    summary+=("$(python3 -c "print(f'$name: req/s {float($o_rps)/float($n_rps):.2f}x nginx, mean latency {float($o_mean)/max(float($n_mean),1e-9):.2f}x, bytes/s {float($o_tps)/max(float($n_tps),1):.2f}x')")")
done
echo
printf '%s\n' "${summary[@]}"
