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

# --- the store ---------------------------------------------------------------------
python3 "$repo/benches/small_conda_channel.py" "$work/channel"

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

printf '| case | server | req/s | mean ms | p50 ms | p99 ms | MB/s |\n|---|---|---|---|---|---|---|\n'
summary=()
for case in "small 64 2 $small" "small-1conn 1 1 $small" "large 32 2 $large" "shards 64 2 /"; do
    read -r name conns threads path <<<"$case"
    lua=
    [ "$name" = shards ] && lua=$work/shards.lua
    nginx_row=$(wrk_run "$name" "$nginx_port" "$conns" "$threads" "$path" "$lua")
    ours_row=$(wrk_run "$name" "$ours_port" "$conns" "$threads" "$path" "$lua")
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
