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
