#!/usr/bin/env bash
# End-to-end benchmark, run by hand (not in CI, needs a real Debian archive): a verbatim
# mirror of one real suite with its index families, by mirror-cli and by debmirror doing
# the same job in the same run, each under /usr/bin/time -v. Then the no-op re-sync of
# each, and what each mirror holds (files and bytes under dists/ and pool/).
#
# Usage: benches/e2e-debmirror.sh
#   MIRROR_BENCH_APT_URL=URL   the archive (default: the first URI of this machine's apt
#                              sources; no host name is written here)
#   SUITE=bookworm-updates     COMPONENT=main   ARCH=amd64
#   KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
#   MIRROR_CLI=path            use this binary (default: build target/release/mirror-cli)
#   KEEP=1                     keep the temp dir (its path is printed)
#   DEBMIRROR_EXTRA=--no-check-gpg   extra debmirror options (debmirror checks only
#                              Release.gpg against Release; an archive proxy serving a
#                              stale Release next to a fresh Release.gpg fails it, where
#                              mirror-cli verifies InRelease and keeps that)
# Needs root (or the packages already installed): apt-get install -y debmirror time.
#
# The job is the same for both: Packages, Release files, Translation-en, Contents (deb
# and udeb), no sources, no pdiffs (debian-installer with INSTALLER=true). mirror-cli also
# carries dep11 and cnf (debmirror has no option for them); the table shows the bytes.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
suite=${SUITE:-bookworm-updates}
component=${COMPONENT:-main}
arch=${ARCH:-amd64}
keyring=${KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}

url=${MIRROR_BENCH_APT_URL:-}
if [ -z "$url" ]; then
    url=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$url" ] && [ -f /etc/apt/sources.list ]; then
    url=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list)
fi
[ -n "$url" ] || { echo "set MIRROR_BENCH_APT_URL (no apt source found)" >&2; exit 2; }
scheme=${url%%://*}
rest=${url#*://}
host=${rest%%/*}
root=${rest#"$host"}
root=${root#/}

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing debmirror=debmirror time=time
cli=$(mirror_cli "$repo")

work=$(mktemp -d)
cleanup() { if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

cat >"$work/mirror.toml" <<EOF
store = "$work/store"
[[apt]]
name = "debian"
url = "$url"
suites = ["$suite"]
components = ["$component"]
architectures = ["$arch"]
keyring = "$keyring"
languages = ["en"]
installer = ${INSTALLER:-false}
EOF

# INSTALLER=true adds debian-installer indices and udebs to both jobs (off by default:
# some archive proxies serve no udebs).
sections=$component
[ "${INSTALLER:-false}" = true ] && sections="$component,$component/debian-installer"

# debmirror verifies Release.gpg with gpgv against this keyring.
mkdir -p "$work/gnupg"
cp "$keyring" "$work/gnupg/trustedkeys.gpg"
debmirror_cmd=(env "GNUPGHOME=$work/gnupg" debmirror --host="$host" --root="$root"
    --method="$scheme" --dist="$suite" --section="$sections" --arch="$arch"
    --nosource --i18n --getcontents --diff=none --rsync-extra=none
    --keyring="$work/gnupg/trustedkeys.gpg" --omit-suite-symlinks ${DEBMIRROR_EXTRA:-}
    "$work/debmirror")

timed() { # label, command...
    local label=$1
    shift
    /usr/bin/time -v -o "$work/$label.time" "$@" >"$work/$label.out" 2>"$work/$label.err" || {
        echo "$label failed:" >&2
        tail -20 "$work/$label.err" >&2
        exit 1
    }
}

timed mirror-sync "$cli" --config "$work/mirror.toml" --json sync
timed mirror-noop "$cli" --config "$work/mirror.toml" --json sync
timed debmirror-sync "${debmirror_cmd[@]}"
timed debmirror-noop "${debmirror_cmd[@]}"

wall() { awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; printf "%.1f", s }' "$work/$1.time"; }
rss() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2 / 1024}' "$work/$1.time"; }
tree() { # dir: files and MB under dists/ (by-hash copies apart) and pool/
    local d=$1
    local dists pool byhash
    dists=$(find -L "$d/dists" -type f -not -path '*/by-hash/*' | wc -l)
    byhash=$(find -L "$d/dists" -type f -path '*/by-hash/*' | wc -l)
    pool=$(find -L "$d/pool" -type f 2>/dev/null | wc -l)
    printf "%s index files (+%s by-hash), %s pool files, %s MB" "$dists" "$byhash" "$pool" \
        "$(du -sLm "$d" | cut -f1)"
}

echo "suite $suite/$component/$arch of $url"
printf "%-14s %10s %10s %12s %10s\n" tool "sync s" "RSS MB" "no-op s" "RSS MB"
printf "%-14s %10s %10s %12s %10s\n" mirror-cli "$(wall mirror-sync)" "$(rss mirror-sync)" \
    "$(wall mirror-noop)" "$(rss mirror-noop)"
printf "%-14s %10s %10s %12s %10s\n" debmirror "$(wall debmirror-sync)" "$(rss debmirror-sync)" \
    "$(wall debmirror-noop)" "$(rss debmirror-noop)"
echo "mirror-cli holds: $(tree "$work/store/public/debian")"
echo "debmirror holds:  $(tree "$work/debmirror")"
echo "index families only mirror-cli carries:"
comm -23 \
    <(cd -P "$work/store/public/debian/dists" && find . -type f -not -path '*/by-hash/*' | sort) \
    <(cd "$work/debmirror/dists" && find . -type f | sort) | sed 's/^/  /'
