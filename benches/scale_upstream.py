#!/usr/bin/env python3
"""Write a signed APT upstream for the scale benchmark (benches/scale.sh).

The index is real: the first FRACTION of the stanzas of a real Packages file (the
bookworm fixture's, tens of thousands of packages), every field kept but the file's own
(Filename keeps its path; Size and the digests describe a small synthetic pool file
written beside it). So index parsing, dependency fields and the pool layout are a
distribution's, while the pool costs megabytes, not gigabytes, and the benchmark
measures the tools, not the disk.

    scale_upstream.py PACKAGES_XZ OUT FRACTION GENERATION GNUPGHOME

GENERATION 0 is the base. GENERATION g > 0 changes every 100th package of the selection
(1%): a new version, so a new pool file and a new index entry, as a point release does.
The Release is signed (InRelease and Release.gpg) by the first secret key in GNUPGHOME.
"""

import gzip
import hashlib
import lzma
import os
import subprocess
import sys
import time


def stanzas(text):
    for block in text.split("\n\n"):
        if block.strip():
            yield block.strip("\n")


def fields(block):
    """(key, value) in order; continuation lines stay with their field."""
    out = []
    for line in block.split("\n"):
        if line[:1] in (" ", "\t") and out:
            out[-1] = (out[-1][0], out[-1][1] + "\n" + line)
        else:
            key, _, value = line.partition(":")
            out.append((key, value.strip()))
    return out


DROP = {"Size", "MD5sum", "SHA1", "SHA256", "SHA512", "Description-md5"}


def main():
    packages_xz, out, fraction, generation, gnupghome = sys.argv[1:6]
    fraction, generation = float(fraction), int(generation)
    text = lzma.open(packages_xz, "rt", encoding="utf-8").read()
    blocks = list(stanzas(text))
    blocks = blocks[: max(1, int(len(blocks) * fraction))]
    suite = os.path.join(out, "dists", "bookworm")
    binary = os.path.join(suite, "main", "binary-amd64")
    os.makedirs(binary, exist_ok=True)
    index = []
    for n, block in enumerate(blocks):
        kv = fields(block)
        get = dict(kv)
        version, filename = get["Version"], get["Filename"]
        for g in range(1, generation + 1):
            if n % 100 == g % 100:
                version += f"+scale{g}"
        if version != get["Version"]:
            base = filename.rsplit("_", 2)
            filename = f"{base[0]}_{version.split(':', 1)[-1]}_{base[-1]}"
        content = f"{get['Package']} {version} {n}\n".encode() * 8
        path = os.path.join(out, filename)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(content)
        lines = []
        for key, value in kv:
            if key in DROP:
                continue
            if key == "Version":
                value = version
            if key == "Filename":
                value = filename
            sep = " " if value and not value.startswith("\n") else ""
            lines.append(f"{key}:{sep}{value}")
        lines.append(f"Size: {len(content)}")
        lines.append(f"MD5sum: {hashlib.md5(content).hexdigest()}")
        lines.append(f"SHA256: {hashlib.sha256(content).hexdigest()}")
        index.append("\n".join(lines))
    plain = ("\n\n".join(index) + "\n").encode()
    members = {
        "main/binary-amd64/Packages": plain,
        "main/binary-amd64/Packages.xz": lzma.compress(plain, preset=1),
        "main/binary-amd64/Packages.gz": gzip.compress(plain, compresslevel=1, mtime=0),
    }
    for rel, data in members.items():
        with open(os.path.join(suite, rel), "wb") as f:
            f.write(data)
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    release = [
        "Origin: scale-bench",
        "Label: scale-bench",
        "Suite: stable",
        "Codename: bookworm",
        f"Date: {date}",
        "Architectures: amd64",
        "Components: main",
        "MD5Sum:",
    ]
    release += [f" {hashlib.md5(d).hexdigest()} {len(d)} {r}" for r, d in members.items()]
    release.append("SHA256:")
    release += [f" {hashlib.sha256(d).hexdigest()} {len(d)} {r}" for r, d in members.items()]
    with open(os.path.join(suite, "Release"), "w") as f:
        f.write("\n".join(release) + "\n")
    gpg = ["gpg", "--homedir", gnupghome, "--batch", "--yes", "--quiet"]
    for args in (["--clearsign", "-o", "InRelease"], ["--armor", "--detach-sign", "-o", "Release.gpg"]):
        subprocess.run(gpg + args + ["Release"], cwd=suite, check=True)
    print(f"{len(blocks)} packages, {len(plain)} bytes of Packages")


if __name__ == "__main__":
    main()
