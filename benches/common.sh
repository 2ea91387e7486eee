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
