"""A conda channel of 1,000 small packages (`shardNNNN-1.0-0.tar.bz2`, each a tar.bz2
holding only info/index.json) in linux-64 and an empty noarch, written to argv[1]: the
"many distinct small files" case of the serve benchmarks."""
import bz2, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
subdir = os.path.join(root, "linux-64")
os.makedirs(subdir)
os.makedirs(os.path.join(root, "noarch"))
packages = {}
for n in range(1000):
    name = f"shard{n:04d}"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        body = json.dumps({"name": name, "version": "1.0", "build": "0",
                           "build_number": 0, "subdir": "linux-64"}).encode()
        info = tarfile.TarInfo("info/index.json")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    blob = bz2.compress(data.getvalue())
    filename = f"{name}-1.0-0.tar.bz2"
    with open(os.path.join(subdir, filename), "wb") as f:
        f.write(blob)
    packages[filename] = {
        "name": name, "version": "1.0", "build": "0", "build_number": 0,
        "depends": [], "subdir": "linux-64", "size": len(blob),
        "sha256": hashlib.sha256(blob).hexdigest(), "md5": hashlib.md5(blob).hexdigest(),
    }
for sub, pkgs in (("linux-64", packages), ("noarch", {})):
    with open(os.path.join(root, sub, "repodata.json"), "w") as f:
        json.dump({"info": {"subdir": sub}, "packages": pkgs, "packages.conda": {}}, f)
