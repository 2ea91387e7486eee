#!/usr/bin/env bash
# Bundle verification speed against coreutils and openssl, on the same files in one run.
#
#   benches/verify-vs-sha256sum.sh [SIZE_MB] [VOLUME_SIZE]     (default 2048 MB, 500M)
#
# Builds a store of random objects (written straight into objects/sha256 with a snapshot
# naming them, exactly what `sync` leaves behind), exports it as one bundle with
# `mirror-cli export`, then times, with a warm page cache:
#   - mirror-cli verify --bundle (all cores, and RAYON_NUM_THREADS=1 for one core)
#   - sha256sum -c SHA256SUMS   (coreutils, one core)
#   - openssl dgst -sha256 on the same files (one core)
# and prints GB/s and the ratios the issue asks for.
set -euo pipefail
size_mb=${1:-2048}
volume=${2:-500M}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MIRROR_CLI:-$root/target/release/mirror-cli}
[ -x "$bin" ] || cargo build --release -p mirror-cli --manifest-path "$root/Cargo.toml"
work=$(mktemp -d "${TMPDIR:-/tmp}/verify-bench.XXXXXX")
[ -n "${KEEP_WORK:-}" ] || trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cd "$work"

"$bin" keygen --out keys/signing.asc >/dev/null
printf 'store = "store"\n[signing]\nkey = "keys/signing.asc"\n' > mirror.toml
mkdir -p store/objects/sha256 store/snapshots/bench store/trees store/state store/transfer store/tmp
# Objects of 1..64 MB, like packages of a large distribution plus a few big ones.
python3 - "$size_mb" <<'PY'
import hashlib, json, os, random, sys
total = int(sys.argv[1]) << 20
random.seed(42)
files, done, i = [], 0, 0
while done < total:
    n = min(total - done, random.choice([1, 2, 4, 8, 16, 64]) << 20)
    data = os.urandom(n)
    digest = hashlib.sha256(data).hexdigest()
    path = f"store/objects/sha256/{digest[:2]}/{digest}"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    files.append({"path": f"pool/file-{i:05}", "sha256": digest, "size": n})
    done += n
    i += 1
snapshot = {"format": 1, "mirror": "bench", "id": "20260101T000000Z-000000000000",
            "created": "2026-01-01T00:00:00Z", "kind": "apt", "upstream": "file:///bench",
            "fingerprint": "bench", "files": files}
with open("store/snapshots/bench/20260101T000000Z-000000000000.json", "w") as f:
    json.dump(snapshot, f)
PY
"$bin" --config mirror.toml export --out bundle --volume-size "$volume" bench
bytes=$(cat bundle/data-*.tar | wc -c)
cd bundle
cat ./* > /dev/null # warm the page cache

t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
ours=$(t "$bin" verify --bundle . --key ../keys/signing.asc.pub)
ours1=$(RAYON_NUM_THREADS=1 t "$bin" verify --bundle . --key ../keys/signing.asc.pub)
(cd .. && cat store/objects/sha256/*/* > /dev/null)
store=$(t "$bin" --config ../mirror.toml verify)
coreutils=$(t sha256sum -c --quiet SHA256SUMS)
openssl=$(t openssl dgst -sha256 data-*.tar)

gbps() { echo "scale=3; $bytes / $1 / 1000000000" | bc -l; }
ratio() { echo "scale=2; $2 / $1" | bc -l; }
echo "bundle: $(ls data-*.tar | wc -l) volumes, $bytes bytes, $(nproc) cores"
printf '%-40s %8.2fs %6s GB/s\n' "mirror-cli verify --bundle (all cores)" "$ours" "$(gbps "$ours")"
printf '%-40s %8.2fs %6s GB/s\n' "mirror-cli verify --bundle (1 thread)" "$ours1" "$(gbps "$ours1")"
printf '%-40s %8.2fs %6s GB/s\n' "mirror-cli verify (the store's objects)" "$store" "$(gbps "$store")"
printf '%-40s %8.2fs %6s GB/s\n' "sha256sum -c SHA256SUMS" "$coreutils" "$(gbps "$coreutils")"
printf '%-40s %8.2fs %6s GB/s\n' "openssl dgst -sha256 (volumes)" "$openssl" "$(gbps "$openssl")"
echo "one thread vs openssl:       $(ratio "$ours1" "$openssl")x (goal >= 0.80)"
echo "all cores vs openssl:        $(ratio "$ours" "$openssl")x (goal >= 1.6)"
echo "all cores vs sha256sum -c:   $(ratio "$ours" "$coreutils")x"
echo "store verify vs openssl:     $(ratio "$store" "$openssl")x"
