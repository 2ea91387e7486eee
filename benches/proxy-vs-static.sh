#!/usr/bin/env bash
# `mirror-cli serve` with a conda mirror in proxy mode (issue 16) against nginx on the same
# files, in the same run (run by hand, not in CI). The upstream is nginx serving a channel
# of 1,000 small packages made here (benches/small_conda_channel.py).
#   - misses: every package fetched once through the cold proxy (each fetched upstream,
#     streamed against its record's sha256 and size, archive checked, recorded, stored),
#     $PARALLEL at a time with curl, against the same fetches straight from the upstream.
#   - hits: wrk, $CONNECTIONS connections, random packages, against the warm proxy and
#     against nginx serving the same files (a plain static server).
# Prints the wall times, one wrk table and the ratios; the upstream's access log shows how
# many requests reached it during the hits (must be 0).
#
# Usage: benches/proxy-vs-static.sh
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   SECONDS_PER_CASE=10             wrk duration per server
#   CONNECTIONS=200                 wrk connections for the hits
#   PARALLEL=32                     concurrent curl fetches for the misses
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs root (or the packages already installed) for: apt-get install -y nginx-light wrk curl.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
duration=${SECONDS_PER_CASE:-10}
connections=${CONNECTIONS:-200}
parallel=${PARALLEL:-32}

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

python3 "$repo/benches/small_conda_channel.py" "$work/channel"
(cd "$work/channel/linux-64" && ls -- *.tar.bz2) >"$work/names.txt"

# --- the upstream (also the static server the hits are compared with) ---------------
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
    access_log $work/upstream.log;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$nginx_port;
        root $work/channel;
    }
}
EOF
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)

# --- the proxy -----------------------------------------------------------------------
cat >"$work/mirror.toml" <<EOF
store = "store"
[[conda]]
name = "proxy"
url = "http://127.0.0.1:$nginx_port"
subdirs = ["linux-64"]
mode = "proxy"
EOF
ours_port=$(free_port)
"$cli" --config "$work/mirror.toml" serve --listen "127.0.0.1:$ours_port" --proxy-fills 64 \
    2>"$work/serve.log" &
pids+=($!)
for port in "$nginx_port" "$ours_port"; do
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
        curl -sS -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null && break
        sleep 0.1
    done
done
# The index first, so the misses measure packages only.
curl -fsS -o /dev/null "http://127.0.0.1:$ours_port/proxy/linux-64/repodata.json"

# --- misses ----------------------------------------------------------------------------
# fetch_all PREFIX: every package once, $parallel at a time; prints the wall seconds.
fetch_all() {
    local start end
    start=$(date +%s.%N)
    # `-o` names the output of the URL after it: one per URL.
    sed "s|^|-o /dev/null $1|" "$work/names.txt" | xargs -P "$parallel" -n 48 curl -fsS
    end=$(date +%s.%N)
    python3 -c "print(f'{$end - $start:.3f}')"
}
direct=$(fetch_all "http://127.0.0.1:$nginx_port/linux-64/")
cold=$(fetch_all "http://127.0.0.1:$ours_port/proxy/linux-64/")
warm=$(fetch_all "http://127.0.0.1:$ours_port/proxy/linux-64/")
count=$(wc -l <"$work/names.txt")
echo "misses: $count packages, $parallel at a time (curl): upstream alone ${direct}s," \
    "cold proxy ${cold}s ($(python3 -c "print(f'{$cold/$direct:.2f}')")x), warm proxy ${warm}s"

# --- hits ------------------------------------------------------------------------------
for server in nginx ours; do
    prefix=/linux-64/
    [ "$server" = ours ] && prefix=/proxy/linux-64/
    cat >"$work/$server.lua" <<EOF
local paths = {}
for line in io.lines("$work/names.txt") do paths[#paths + 1] = "$prefix" .. line end
math.randomseed(42)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
EOF
done
printf '| hits (%s conn) | req/s | mean ms | p50 ms | p99 ms | MB/s |\n|---|---|---|---|---|---|\n' "$connections"
nginx_row=$(wrk_run nginx "$nginx_port" "$connections" 2 / "$work/nginx.lua")
before=$(wc -l <"$work/upstream.log")
ours_row=$(wrk_run proxy "$ours_port" "$connections" 2 / "$work/ours.lua")
after=$(wc -l <"$work/upstream.log")
for pair in "nginx (static):$nginx_row" "mirror-cli (proxy):$ours_row"; do
    read -r rps mean p50 p99 tps <<<"${pair#*:}"
    printf '| %s | %s | %s | %s | %s | %.1f |\n' "${pair%%:*}" "$rps" "$mean" "$p50" "$p99" \
        "$(python3 -c "print($tps/1e6)")"
done
read -r n_rps n_mean _ _ _ <<<"$nginx_row"
read -r o_rps o_mean _ _ _ <<<"$ours_row"
python3 -c "print(f'hits: req/s {float($o_rps)/float($n_rps):.2f}x nginx, mean latency {float($o_mean)/max(float($n_mean),1e-9):.2f}x')"
echo "upstream requests during the proxy's hits: $((after - before))"
