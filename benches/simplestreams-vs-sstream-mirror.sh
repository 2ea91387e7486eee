#!/usr/bin/env bash
# simplestreams at MAAS scale against sstream-mirror, run by hand (not in CI; issue 34,
# item 6). A stream is generated here: $PRODUCTS products (releases x architectures x
# subarchitectures), $VERSIONS version names each, three small synthetic items per
# version (squashfs, kernel, initrd), in one product file, signed with a throwaway gpg
# key; Python's HTTP server serves it on loopback. In the same run, with the same
# selection (arch=amd64, two releases, the newest version of each product):
#   1. mirror-cli sync (filtered: cut and re-signed), first and no-op;
#   2. sstream-mirror (python-simplestreams, .venv-simplestreams) --max 1 with the same
#      filters, first and again;
#   3. one new version per selected product upstream: mirror-cli sync + export of the
#      incremental bundle, against the size of sstream-mirror's whole tree (what a
#      hand-made copy carries across the gap).
# Each step under /usr/bin/time; wall times, peak RSS and sizes are this machine's.
#
# Usage: benches/simplestreams-vs-sstream-mirror.sh
#   PRODUCTS=300 VERSIONS=20        the stream's size (items: PRODUCTS x VERSIONS x 3)
#   MIRROR_CLI=path/to/mirror-cli   use this binary (default: build target/release/mirror-cli)
#   KEEP=1                          keep the temp dir (its path is printed)
# Needs: gpg, python3, /usr/bin/time, scripts/setup-simplestreams-client.sh.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
products=${PRODUCTS:-300}
versions=${VERSIONS:-20}

# shellcheck source=benches/common.sh
. "$repo/benches/common.sh"
install_missing time=time gpg=gnupg
cli=$(mirror_cli "$repo")
bash "$repo/scripts/setup-simplestreams-client.sh" >/dev/null
sstream_mirror=$repo/.venv-simplestreams/bin/sstream-mirror

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    if [ "${KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

export GNUPGHOME=$work/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key "stream bench <bench@example.invalid>" ed25519 sign never
gpg --batch --quiet --export >"$work/upstream.gpg"

# make_stream EXTRA: write the stream (EXTRA more version names per product) and sign it.
make_stream() {
    python3 - "$work/upstream" "$products" "$versions" "$1" <<'PY'
import hashlib, json, os, sys
root, products, versions, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
releases = ["bionic", "focal", "jammy", "noble", "oracular", "plucky"]
arches = ["amd64", "arm64", "armhf", "ppc64el", "s390x"]
subarches = ["ga-%d" % n for n in range(products // (len(releases) * len(arches)) + 1)]
prods = {}
n = 0
for release in releases:
    for arch in arches:
        for subarch in subarches:
            if n == products:
                break
            n += 1
            name = "com.example.maas:v3:%s:%s:%s" % (release, arch, subarch)
            vers = {}
            for v in range(versions + extra):
                vname = "2024%04d" % v
                items = {}
                for item, ftype in (("squashfs", "squashfs"), ("kernel", "boot-kernel"), ("initrd", "boot-initrd")):
                    path = "%s/%s/%s/%s/%s" % (release, arch, subarch, vname, item)
                    data = ("%s\n" % path).encode()
                    full = os.path.join(root, path)
                    if not os.path.exists(full):
                        os.makedirs(os.path.dirname(full), exist_ok=True)
                        with open(full, "wb") as f:
                            f.write(data)
                    items[item] = {"ftype": ftype, "path": path, "size": len(data),
                                   "sha256": hashlib.sha256(data).hexdigest(),
                                   "md5": hashlib.md5(data).hexdigest()}
                vers[vname] = {"items": items}
            prods[name] = {"release": release, "arch": arch, "subarch": subarch,
                           "os": "ubuntu", "versions": vers}
cid = "com.example.maas:stable:v3:download"
streams = os.path.join(root, "streams/v1")
os.makedirs(streams, exist_ok=True)
doc = {"content_id": cid, "datatype": "image-downloads", "format": "products:1.0",
       "updated": "Mon, 01 Jan 2024 00:00:00 +0000", "products": prods}
index = {"format": "index:1.0", "updated": "Mon, 01 Jan 2024 00:00:00 +0000",
         "index": {cid: {"datatype": "image-downloads", "format": "products:1.0",
                         "path": "streams/v1/%s.sjson" % cid, "products": sorted(prods)}}}
for name, d in ((cid, doc), ("index", index)):
    with open(os.path.join(streams, name + ".json"), "w") as f:
        json.dump(d, f, indent=1)
        f.write("\n")
PY
    for f in "$work"/upstream/streams/v1/*.json; do
        gpg --batch --quiet --yes --clearsign --output "${f%.json}.sjson" "$f"
    done
}

make_stream 0
# The generated files reach the disk now, not during the first timed run (whose fsyncs
# would wait for them).
sync
items=$((products * versions * 3))
port=$(free_port)
(cd "$work/upstream" && exec python3 -m http.server "$port" --bind 127.0.0.1) >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$port/streams/v1/index.sjson" 2>/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port

"$cli" --config "$work/keygen.toml" keygen --out "$work/keys/signing.asc" >/dev/null
cat >"$work/mirror.toml" <<EOF
store = "store"
[signing]
key = "keys/signing.asc"
[[simplestreams]]
name = "maas"
url = "$url"
keyring = ["upstream.gpg"]
filters = ["arch=amd64", "release~^(jammy|noble)\$"]
keep_versions = 1
EOF

# timed LABEL CMD...: run under /usr/bin/time; prints "LABEL wall_s rss_mb".
timed() {
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/$label.out" 2>"$work/$label.err" || {
        echo "$label failed:" >&2
        tail -5 "$work/$label.err" >&2
        exit 1
    }
    read -r wall rss <"$work/time"
    printf '%s %s %.1f\n' "$label" "$wall" "$(python3 -c "print($rss/1024)")"
}

echo "stream: $products products x $versions versions x 3 items = $items items, $(du -sh "$work/upstream/streams" | cut -f1) of metadata"
filters=(arch=amd64 'release~^(jammy|noble)$')
{
    timed ours-first "$cli" --config "$work/mirror.toml" sync
    timed ours-noop "$cli" --config "$work/mirror.toml" sync
    timed peer-first "$sstream_mirror" --keyring="$work/upstream.gpg" --max 1 \
        "$url/streams/v1/index.sjson" "$work/peer" "${filters[@]}"
    timed peer-again "$sstream_mirror" --keyring="$work/upstream.gpg" --max 1 \
        "$url/streams/v1/index.sjson" "$work/peer" "${filters[@]}"
} | tee "$work/times"
ours_items=$(find -L "$work/store/public/maas" -type f -not -path '*/streams/*' | wc -l)
peer_items=$(find "$work/peer" -type f -not -path '*/streams/*' | wc -l)
echo "items mirrored: mirror-cli $ours_items, sstream-mirror $peer_items"

# The incremental carry: one new version everywhere upstream.
"$cli" --config "$work/mirror.toml" export --out "$work/bundle-1" >/dev/null
make_stream 1
sync
timed ours-incremental "$cli" --config "$work/mirror.toml" sync | tee -a "$work/times"
"$cli" --config "$work/mirror.toml" export --out "$work/bundle-2" >/dev/null
timed peer-incremental "$sstream_mirror" --keyring="$work/upstream.gpg" --max 1 \
    "$url/streams/v1/index.sjson" "$work/peer" "${filters[@]}" | tee -a "$work/times"
echo "incremental bundle: $(du -sb "$work/bundle-2" | cut -f1) bytes; first bundle $(du -sb "$work/bundle-1" | cut -f1) bytes;" \
    "sstream-mirror's whole tree: $(du -sb "$work/peer" | cut -f1) bytes"
python3 - "$work/times" <<'PY'
import sys
t = {}
for line in open(sys.argv[1]):
    label, wall, rss = line.split()
    t[label] = (float(wall), float(rss))
for ours, peer in (("ours-first", "peer-first"), ("ours-noop", "peer-again"), ("ours-incremental", "peer-incremental")):
    print("%s: %.2fs vs %.2fs (%.2fx wall), peak RSS %.0f vs %.0f MB" % (
        ours, t[ours][0], t[peer][0], t[ours][0] / max(t[peer][0], 1e-9), t[ours][1], t[peer][1]))
PY
