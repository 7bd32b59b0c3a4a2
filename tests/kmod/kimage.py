#!/usr/bin/python3
"""Kernel image helpers for the kmod harness (tests/kmod/lib.sh).

  kimage.py vmlinux BZIMAGE OUT
      Writes the ELF kernel inside a Debian bzImage (xz, zstd or gzip) to
      OUT, so qemu can boot it through its PVH entry (no firmware, no
      in-guest decompression: seconds faster under TCG).
  kimage.py modules MODDIR OUTDIR NAME...
      Copies the modules NAME... of MODDIR (/lib/modules/KVER) with every
      module they depend on (modules.dep) to OUTDIR, decompressed, and
      writes OUTDIR/order: the file names in a load order (dependencies
      first). Built-in names are skipped.
"""

import lzma
import os
import shutil
import subprocess
import sys

MAGICS = ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"),
          (b"\x1f\x8b\x08\x00", "gzip"))


def vmlinux(bzimage, out):
    data = open(bzimage, "rb").read()
    for magic, kind in MAGICS:
        i = data.find(magic)
        while i >= 0:
            try:
                if kind == "xz":
                    elf = lzma.LZMADecompressor().decompress(data[i:])
                else:
                    elf = subprocess.run([kind, "-dc"], input=data[i:],
                                         capture_output=True).stdout
                if elf[:4] == b"\x7fELF":
                    with open(out + ".tmp", "wb") as f:
                        f.write(elf)
                    os.rename(out + ".tmp", out)
                    return
            except (lzma.LZMAError, OSError):
                pass
            i = data.find(magic, i + 1)
    sys.exit(f"kimage: no ELF kernel found in {bzimage}")


def modname(path):
    base = os.path.basename(path)
    return base.split(".ko")[0].replace("-", "_")


def modules(moddir, outdir, names):
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[modname(mod)] = (mod, rest.split())
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {modname(line.strip()) for line in f}
    except OSError:
        pass
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        if name not in deps:
            if name in builtin:
                return
            sys.exit(f"kimage: module {name} not found in {moddir}")
        for d in deps[name][1]:
            visit(modname(d))
        order.append(deps[name][0])

    for n in names:
        visit(n.replace("-", "_"))
    os.makedirs(outdir, exist_ok=True)
    files = []
    for rel in order:
        src = os.path.join(moddir, rel)
        dst = os.path.join(outdir, modname(rel) + ".ko")
        if rel.endswith(".xz"):
            with lzma.open(src) as i, open(dst, "wb") as o:
                shutil.copyfileobj(i, o)
        elif rel.endswith(".zst"):
            with open(dst, "wb") as o:
                subprocess.run(["zstd", "-dc", src], stdout=o, check=True)
        else:
            shutil.copyfile(src, dst)
        files.append(os.path.basename(dst))
    with open(os.path.join(outdir, "order"), "w") as f:
        f.write("".join(x + "\n" for x in files))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "vmlinux":
        vmlinux(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "modules":
        modules(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
