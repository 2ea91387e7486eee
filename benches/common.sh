# Shared by the end-to-end benchmark scripts (sourced, not run).

# install_missing CMD=PACKAGE...: apt-get install the packages whose command is absent
# (`time` is checked as /usr/bin/time, the shell keyword of the same name does not count).
install_missing() {
    local need=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%=*}
        pkg=${pair#*=}
        if [ "$cmd" = time ]; then
            [ -x /usr/bin/time ] || need+=("$pkg")
        else
            command -v "$cmd" >/dev/null || need+=("$pkg")
        fi
    done
    if [ ${#need[@]} -gt 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
    fi
}

# mirror_cli REPO: the binary under test, $MIRROR_CLI or a fresh release build.
mirror_cli() {
    local cli=${MIRROR_CLI:-}
    if [ -z "$cli" ]; then
        (cd "$1" && cargo build --release -p mirror-cli >&2)
        cli=$1/target/release/mirror-cli
    fi
    realpath "$cli"
}

# wait_for_port FILE: the port a server started in the background printed into FILE as
# "... port N ..." (waits up to 5 s; fails the script when none appears).
wait_for_port() {
    local port=
    for _ in $(seq 50); do
        port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$1" | head -n1)
        [ -n "$port" ] && { echo "$port"; return; }
        sleep 0.1
    done
    echo "the server writing $1 did not start" >&2
    exit 1
}

# time_wall FILE / time_rss_mb FILE: wall seconds and peak RSS (MB) from `/usr/bin/time -v`.
time_wall() {
    awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "$1"
}
time_rss_mb() {
    awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"
}

# free_port: a TCP port free on loopback now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wrk_run NAME PORT CONNECTIONS THREADS PATH [LUA]: one wrk run; prints
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
wrk_run() {
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
