#!/usr/bin/env bash
# Scale benchmark, run by hand (never part of `xtask test`; no xtask command yet):
# a full mirror of a distribution-sized suite and the operator's sequence after it, by
# mirror-cli, aptly and debmirror in the same run, on the same loopback upstream.
#
# The upstream is written by benches/scale_upstream.py from the real bookworm Packages
# of the fixtures (FRACTION of its 63,444 stanzas), with a small synthetic file per
# package, signed by a key made for the run, and served by nginx (a real listen backlog
# and sendfile, so the server is never what is measured). Steps, each under
# /usr/bin/time -v (wall, user + system CPU, peak RSS):
#
#   mirror-cli  full sync | no-op sync | export full | import full (a second store) |
#               1% change: sync | export incremental | import incremental | prune
#   aptly       mirror create + update, snapshot, publish | no-op update |
#               1% change: update, snapshot, publish switch | db cleanup
#   debmirror   full | no-op | 1% change
#
# plus disk per snapshot (trees, snapshot files) and bundle sizes.
#
# Usage: benches/scale.sh [FRACTION...]   (default 1.0)
#   MIRROR_FIXTURES=DIR             the fixture tree (default: the repository's tests/fixtures)
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   PEERS=none                      mirror-cli only
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs root (or the packages installed) for: apt-get install -y nginx aptly debmirror gnupg time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${MIRROR_FIXTURES:-$repo/tests/fixtures}
packages_xz=$fixtures/debian-bookworm/dists/bookworm/main/binary-amd64/Packages.xz
fractions=("$@")
[ ${#fractions[@]} -gt 0 ] || fractions=(1.0)

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing nginx=nginx gpg=gnupg time=time
peers=${PEERS:-aptly debmirror}
[ "$peers" = none ] && peers=
for peer in $peers; do install_missing "$peer=$peer"; done
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
nginx_pid=
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

export GNUPGHOME=$work/gnupg
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "scale upstream <up@example.invalid>" \
    ed25519 sign never 2>/dev/null
gpg --batch --quiet --passphrase '' --quick-gen-key "aptly publisher <pub@example.invalid>" \
    ed25519 sign never 2>/dev/null
upstream_fpr=$(gpg --batch --with-colons --list-secret-keys up@example.invalid | awk -F: '/^fpr:/ { print $10; exit }')
publisher_fpr=$(gpg --batch --with-colons --list-secret-keys pub@example.invalid | awk -F: '/^fpr:/ { print $10; exit }')
gpg --batch --quiet --export "$upstream_fpr" >"$work/upstream.gpg"
# The generator signs with the first secret key: the upstream's, made first.
export_upstream() { python3 "$repo/benches/scale_upstream.py" "$packages_xz" "$work/up" "$1" "$2" "$GNUPGHOME" >&2; }

# nginx on a port the kernel picks is not offered; take a free one from Python.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/up" "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx/pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx; proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx; uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
    sendfile on;
    types { }
    default_type application/octet-stream;
    server { listen 127.0.0.1:$port backlog=511; root $work/up; autoindex on; }
}
EOF
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 50); do curl -fs "$url/" >/dev/null 2>&1 && break; sleep 0.1; done

rows=()
# timed FRACTION JOB STEP COMMAND...: run under /usr/bin/time -v; keep wall and CPU
# seconds and peak RSS (MB).
timed() {
    local fraction=$1 job=$2 step=$3
    shift 3
    local log=$work/$fraction-$job-$step
    if ! /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>&1; then
        echo "FAILED: $job $step: $*" >&2
        tail -n 30 "$log.out" "$log.time" >&2
        exit 1
    fi
    local wall cpu rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {
        n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.2f", s }' "$log.time")
    cpu=$(awk -F': ' '/User time/ { u = $2 } /System time/ { s = $2 } END { printf "%.2f/%.2f", u, s }' "$log.time")
    rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$log.time")
    rows+=("$fraction $job $step $wall $cpu $rss")
}
mb() { du -sm "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
facts=()

for fraction in "${fractions[@]}"; do
    rm -rf "$work/up"/* "$work/ours" "$work/inside" "$work/aptly" "$work/debmirror" "$work/bundle-"*
    export_upstream "$fraction" 0

    # (A) mirror-cli: outside store, inside store.
    ours=$work/ours inside=$work/inside
    mkdir -p "$ours" "$inside"
    "$cli" --config "$ours/mirror.toml" keygen --out "$ours/keys/signing.asc" >/dev/null
    cat >"$ours/mirror.toml" <<EOF
store = "$ours/store"
[signing]
key = "$ours/keys/signing.asc"
[[apt]]
name = "debian"
url = "$url"
suites = ["bookworm"]
components = ["main"]
architectures = ["amd64"]
keyring = "$work/upstream.gpg"
EOF
    cat >"$inside/mirror.toml" <<EOF
store = "$inside/store"
[transfer]
trusted_keys = ["$ours/keys/signing.asc.pub"]
EOF
    o=(--config "$ours/mirror.toml")
    i=(--config "$inside/mirror.toml")
    timed "$fraction" mirror-cli full-sync "$cli" "${o[@]}" sync
    first=$(ls "$ours/store/trees/debian")
    timed "$fraction" mirror-cli no-op-sync "$cli" "${o[@]}" sync
    timed "$fraction" mirror-cli export-full "$cli" "${o[@]}" export --out "$work/bundle-1"
    timed "$fraction" mirror-cli import-full "$cli" "${i[@]}" import "$work/bundle-1"
    export_upstream "$fraction" 1
    timed "$fraction" mirror-cli 1%-sync "$cli" "${o[@]}" sync
    second=$(ls "$ours/store/trees/debian" | grep -vx "$first")
    timed "$fraction" mirror-cli export-incr "$cli" "${o[@]}" export --out "$work/bundle-2"
    timed "$fraction" mirror-cli import-incr "$cli" "${i[@]}" import "$work/bundle-2"
    timed "$fraction" mirror-cli prune "$cli" "${o[@]}" prune --keep 1
    packages=$(gzip -dc "$work/up/dists/bookworm/main/binary-amd64/Packages.gz" | grep -c '^Package: ')
    # Disk of a tree: its directories' blocks (its files are links to objects). du counts
    # a hard-linked inode once per run, so the second tree alone is measured on its own.
    facts+=("$fraction packages $packages")
    facts+=("$fraction first-tree-MB $(du -sm "$ours/store/trees/debian/$first" 2>/dev/null | cut -f1)")
    facts+=("$fraction snapshot-json-KB $(du -sk "$ours/store/snapshots/debian/$second.json" | cut -f1)")
    facts+=("$fraction bundle-full-MB $(mb "$work/bundle-1")")
    facts+=("$fraction bundle-incr-KB $(du -sk "$work/bundle-2" | cut -f1)")
    facts+=("$fraction bundle-incr-manifest-KB $(du -sk "$work/bundle-2/manifest.json" | cut -f1)")

    # (B) aptly: the whole suite, snapshot, publish; re-sync after the 1% change.
    if [[ " $peers " == *" aptly "* ]]; then
        export_upstream "$fraction" 0
        apt_dir=$work/aptly
        mkdir -p "$apt_dir"
        cat >"$apt_dir/aptly.conf" <<EOF
{ "rootDir": "$apt_dir/root", "architectures": ["amd64"], "gpgProvider": "gpg",
  "downloadConcurrency": 8 }
EOF
        a=(aptly -config="$apt_dir/aptly.conf")
        "${a[@]}" mirror create -architectures=amd64 -keyring="$work/upstream.gpg" bench "$url" bookworm main >/dev/null
        timed "$fraction" aptly full-sync sh -c "$(printf '%q ' "${a[@]}") mirror update -keyring=$work/upstream.gpg bench && $(printf '%q ' "${a[@]}") snapshot create s1 from mirror bench && $(printf '%q ' "${a[@]}") publish snapshot -batch -gpg-key=$publisher_fpr -distribution=bookworm s1"
        timed "$fraction" aptly no-op-sync "${a[@]}" mirror update -keyring="$work/upstream.gpg" bench
        export_upstream "$fraction" 1
        timed "$fraction" aptly 1%-sync sh -c "$(printf '%q ' "${a[@]}") mirror update -keyring=$work/upstream.gpg bench && $(printf '%q ' "${a[@]}") snapshot create s2 from mirror bench && $(printf '%q ' "${a[@]}") publish switch -batch -gpg-key=$publisher_fpr bookworm s2"
        timed "$fraction" aptly prune sh -c "$(printf '%q ' "${a[@]}") snapshot drop s1 && $(printf '%q ' "${a[@]}") db cleanup"
    fi

    # (C) debmirror: a verbatim mirror (no snapshots, no publishing key).
    if [[ " $peers " == *" debmirror "* ]]; then
        export_upstream "$fraction" 0
        d=(debmirror --method=http --host="127.0.0.1:$port" --root=/ --dist=bookworm
           --section=main --arch=amd64 --nosource --i18n=no --getcontents=no --diff=none
           --keyring="$work/upstream.gpg" --progress=no --verbose=no --rsync-extra=none
           "$work/debmirror")
        timed "$fraction" debmirror full-sync "${d[@]}"
        timed "$fraction" debmirror no-op-sync "${d[@]}"
        export_upstream "$fraction" 1
        timed "$fraction" debmirror 1%-sync "${d[@]}"
    fi
done

printf '\n%-8s %-10s %-12s %8s %15s %8s\n' fraction job step wall_s user/sys_s rss_MB
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-8s %-10s %-12s %8s %15s %8s\n' $row
done
printf '\n'
printf '%s\n' "${facts[@]}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(df -T "$work" | awk 'NR == 2 { print $2 }') at $work"
