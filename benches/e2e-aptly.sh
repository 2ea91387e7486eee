#!/usr/bin/env bash
# End-to-end benchmark, run by hand (not in CI): the filtered sync + signed publish of the
# bookworm fixture (jq, sl, tree with Depends, Pre-Depends and Recommends) from a loopback
# upstream, by mirror-cli and by aptly doing the same job, in the same run. Each step runs
# under /usr/bin/time -v; the table gives wall time and peak RSS per step and per job, and
# how many HTTP requests the step made to the upstream.
#
# Usage: benches/e2e-aptly.sh
#   MIRROR_FIXTURES=DIR             the fixture tree (default: the repository's tests/fixtures)
#   PACKAGES="jq sl tree"           the allow-list, for both tools (the fixture holds only the
#                                   .debs of the default's closure: another list needs
#                                   MIRROR_FIXTURES pointing at a fuller mirror tree)
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   GZ=1                            also serve main/binary-amd64/Packages.gz, as Debian does (the
#                                   fixture holds only the .xz): made again with
#                                   `gzip -9n --rsyncable`, which gives Debian's bytes, and
#                                   checked against the SHA256 the signed Release lists; both
#                                   tools then take the .gz
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs root (or the packages already installed) for: apt-get install -y aptly gnupg time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
fixtures=${MIRROR_FIXTURES:-$repo/tests/fixtures}
upstream_dir=$fixtures/debian-bookworm
keyring=$upstream_dir/keyrings/debian-archive-keyring.gpg
read -r -a names <<<"${PACKAGES:-jq sl tree}"
# The allow-list as TOML (["a", "b"]) and as an aptly filter (a | b).
toml_list=$(printf '"%s", ' "${names[@]}")
toml_list="[${toml_list%, }]"
aptly_filter=$(printf '%s | ' "${names[@]}")
aptly_filter=${aptly_filter% | }

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing aptly=aptly gpg=gnupg time=time
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [ "${GZ:-}" = 1 ]; then
    cp -r "$upstream_dir" "$work/upstream"
    chmod -R u+w "$work/upstream"
    upstream_dir=$work/upstream
    index=$upstream_dir/dists/bookworm/main/binary-amd64
    xz -dc "$index/Packages.xz" | gzip -9n --rsyncable >"$index/Packages.gz"
    listed=$(awk '/^SHA256:/ { s = 1; next } /^[^ ]/ { s = 0 }
        s && $3 == "main/binary-amd64/Packages.gz" { print $1 }' "$upstream_dir/dists/bookworm/Release")
    actual=$(sha256sum "$index/Packages.gz" | cut -d' ' -f1)
    if [ "$listed" != "$actual" ]; then
        echo "Packages.gz made again does not match the Release ($actual, listed $listed)" >&2
        exit 1
    fi
fi

# The upstream: the fixture over loopback HTTP on a port the kernel picks. Python's
# http.server listens with a backlog of 5: a client opening 8 connections at once (ours
# does, as apt and any CDN client would) loses SYNs and waits a 1 s TCP retransmit, which
# measured the server, not the client. Same server, real backlog, for both tools.
python3 -u - "$upstream_dir" >"$work/server.out" 2>"$work/server.log" <<'PY' &
import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
with Server(("127.0.0.1", 0), handler) as httpd:
    print(f"Serving HTTP on 127.0.0.1 port {httpd.server_address[1]} (backlog 128)", flush=True)
    httpd.serve_forever()
PY
server_pid=$!
port=$(wait_for_port "$work/server.out")
url=http://127.0.0.1:$port

rows=()
# timed JOB STEP COMMAND...: run under /usr/bin/time -v, keep wall seconds, peak RSS (MB)
# and the number of upstream requests the step made.
timed() {
    local job=$1 step=$2
    shift 2
    local log=$work/$job-$step
    local before after
    before=$(grep -c '"GET ' "$work/server.log" || true)
    if ! /usr/bin/time -v -o "$log.time" "$@" >"$log.out" 2>&1; then
        echo "FAILED: $job $step: $*" >&2
        cat "$log.out" "$log.time" >&2
        exit 1
    fi
    after=$(grep -c '"GET ' "$work/server.log" || true)
    local wall rss
    wall=$(time_wall "$log.time")
    rss=$(time_rss_mb "$log.time")
    rows+=("$job $step $wall $rss $((after - before))")
}

# (A) mirror-cli: keygen (untimed set-up), filtered sync + signed publish, no-op re-sync.
ours=$work/ours
mkdir -p "$ours"
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
keyring = "$keyring"
packages = $toml_list
recommends = true
EOF
timed mirror-cli sync "$cli" --config "$ours/mirror.toml" sync
timed mirror-cli no-op-resync "$cli" --config "$ours/mirror.toml" sync
ours_debs=$(find -L "$ours/store/public" -name '*.deb' | sed 's,.*/,,' | sort -u | wc -l)

# (B) aptly: same upstream, same selection, signed with a key made for it (untimed set-up).
apt_dir=$work/aptly
export GNUPGHOME=$apt_dir/gnupg
mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "aptly bench <bench@example.invalid>" rsa3072 sign never 2>/dev/null
key_id=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '/^fpr:/ { print $10; exit }')
cat >"$apt_dir/aptly.conf" <<EOF
{
  "rootDir": "$apt_dir/root",
  "architectures": ["amd64"],
  "gpgProvider": "gpg",
  "downloadConcurrency": 8,
  "dependencyFollowRecommends": true,
  "dependencyFollowAllVariants": false
}
EOF
aptly=(aptly -config="$apt_dir/aptly.conf")
timed aptly 'mirror-create' "${aptly[@]}" mirror create -architectures=amd64 \
    -filter="$aptly_filter" -filter-with-deps -dep-follow-recommends \
    -keyring="$keyring" bench "$url" bookworm main
timed aptly 'mirror-update' "${aptly[@]}" mirror update -keyring="$keyring" bench
timed aptly 'snapshot-create' "${aptly[@]}" snapshot create s1 from mirror bench
timed aptly 'publish-snapshot' "${aptly[@]}" publish snapshot -batch -gpg-key="$key_id" \
    -distribution=bookworm s1
timed aptly no-op-resync "${aptly[@]}" mirror update -keyring="$keyring" bench
aptly_debs=$(find "$apt_dir/root/public" -name '*.deb' | sed 's,.*/,,' | sort -u | wc -l)

# The table.
printf '\n%-11s %-17s %9s %12s %9s\n' job step wall_s peak_rss_MB requests
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-11s %-17s %9s %12s %9s\n' $row
done
summary=$(printf '%s\n' "${rows[@]}" | awk '
    $2 != "no-op-resync" { wall[$1] += $3; if ($4 > rss[$1]) rss[$1] = $4 }
    $2 == "no-op-resync" { nwall[$1] = $3; nrss[$1] = $4 }
    END {
        printf "\njob (without no-op)  mirror-cli %.2f s %.1f MB | aptly %.2f s %.1f MB\n",
            wall["mirror-cli"], rss["mirror-cli"], wall["aptly"], rss["aptly"]
        printf "no-op re-sync        mirror-cli %.2f s %.1f MB | aptly %.2f s %.1f MB\n",
            nwall["mirror-cli"], nrss["mirror-cli"], nwall["aptly"], nrss["aptly"]
        w = wall["mirror-cli"] > 0 ? wall["aptly"] / wall["mirror-cli"] : 0
        m = rss["aptly"] > 0 ? rss["mirror-cli"] / rss["aptly"] : 0
        n = nwall["mirror-cli"] > 0 ? nwall["aptly"] / nwall["mirror-cli"] : 0
        printf "ratios               job %.1fx faster, %.2f of aptly peak RSS; no-op %.1fx faster\n", w, m, n
    }')
echo "$summary"
echo "published .deb files: mirror-cli $ours_debs, aptly $aptly_debs"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
