"""A real conda client for the end-to-end tests: py-rattler solves SPECS against CHANNEL_URL
(platforms linux-64 and noarch, with this machine's virtual packages such as __glibc, as
conda and mamba do), installs the result into PREFIX, and prints a JSON list of the
installed package names on stdout.

    .venv-conda-client/bin/python tests/support/conda_client.py CHANNEL_URL SPEC[,SPEC...] PREFIX

Run it in a subprocess and judge by the printed JSON and the files in PREFIX/conda-meta:
py-rattler 0.28 may print a harmless PyGILState_Release fatal error as the interpreter
exits. Over http:// the client checks every package's sha256 against the repodata and
refuses a mismatch; over file:// it does not.
"""

import asyncio
import json
import os
import sys

from rattler import Channel, Gateway, VirtualPackage, install, solve


async def main(channel_url, specs, prefix):
    cache = prefix.rstrip("/") + ".cache"
    gateway = Gateway(cache_dir=os.path.join(cache, "repodata"))
    records = await solve(
        [Channel(channel_url)],
        specs,
        platforms=["linux-64", "noarch"],
        gateway=gateway,
        virtual_packages=VirtualPackage.detect(),
    )
    await install(
        records,
        target_prefix=prefix,
        cache_dir=os.path.join(cache, "pkgs"),
        show_progress=False,
    )
    meta = os.path.join(prefix, "conda-meta")
    installed = []
    for entry in sorted(os.listdir(meta)):
        if entry.endswith(".json"):
            with open(os.path.join(meta, entry)) as f:
                installed.append(json.load(f)["name"])
    print(json.dumps(sorted(installed)), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], [s for s in sys.argv[2].split(",") if s], sys.argv[3]))
