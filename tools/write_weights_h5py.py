#!/usr/bin/python3
"""Writes a ctvnet weights file from scratch with h5py, following weights/FORMAT.md only.

What it makes
    tests/data/weights_h5py.h5: shipped weights (kind "weights", no optimizer state) for a
    small U-Net: 2 levels, filters 4 and 8, 2 input channels, batch norm, float32. Its
    values follow a formula the test recomputes (tests/test_weights.cpp), so the test proves
    that a file written outside ctvnet, by the documented layout alone, loads into UNet3D
    with every value where this script put it:

        element i (flat, C order, in the stored layout) of tensor `name` is
            ((i * 7919 + key) % 1021 - 510) / 1024            (running_var: see below)
        with key = sum of the bytes of `name`; running_var is 0.25 + ((i * 7919 + key) % 1021)
        / 1024 (a variance is positive); num_batches_tracked is 3. Every value is a multiple
        of 2^-10, exact in float32.

    The file starts with the 512-byte integrity block of FORMAT.md ("File integrity: the user
    block"): h5py leaves room for it (userblock_size=512) and it is filled in after closing,
    with the SHA-256 of every byte after it (seal below).

    The preprocessing record deliberately uses integers for the HU window (h5py's natural
    type for [-1000, 400]), which FORMAT.md accepts where floats are asked for.

How to run it (from the repository root; under a second)
    /usr/bin/python3 tools/write_weights_h5py.py [--out tests/data/weights_h5py.h5]

Packages it needs (Debian bookworm, as root)
    apt-get install -y --no-install-recommends python3-h5py python3-numpy

Determinism
    No randomness and no HDF5 timestamps: running it twice gives the same bytes.
"""
import argparse
import hashlib
import struct

import h5py
import numpy as np

LEVELS = 2
FILTERS = [4, 8]
IN_CHANNELS = 2


def layers():
    """(name, kind, in_channels, out_channels, kernel) in FORMAT.md's network order."""
    out = []
    c_in = IN_CHANNELS
    for l, f in enumerate(FILTERS):
        out += [(f"enc.{l}.conv1", "conv", c_in, f, 3), (f"enc.{l}.bn1", "bn", f, f, 0),
                (f"enc.{l}.conv2", "conv", f, f, 3), (f"enc.{l}.bn2", "bn", f, f, 0)]
        c_in = f
    for l in range(LEVELS - 2, -1, -1):
        f = FILTERS[l]
        out += [(f"up.{l}", "up", FILTERS[l + 1], f, 2),
                (f"dec.{l}.conv1", "conv", 2 * f, f, 3), (f"dec.{l}.bn1", "bn", f, f, 0),
                (f"dec.{l}.conv2", "conv", f, f, 3), (f"dec.{l}.bn2", "bn", f, f, 0)]
    out.append(("head", "conv", FILTERS[0], 1, 1))
    return out


def values(name, shape):
    """The documented formula: exact multiples of 2^-10."""
    key = sum(name.encode())
    i = np.arange(int(np.prod(shape)), dtype=np.int64)
    r = (i * 7919 + key) % 1021
    v = 0.25 + r / 1024.0 if name.endswith(".running_var") else (r - 510) / 1024.0
    return v.astype(np.float32).reshape(shape)


def tensors():
    """Every /model dataset: name -> (array, layout), in ctvnet's layouts (KTRSC, CTRSK)."""
    out = {}
    for name, kind, c_in, c_out, k in layers():
        if kind == "bn":
            for t in ("weight", "bias", "running_mean", "running_var"):
                out[f"{name}.{t}"] = (values(f"{name}.{t}", (c_out,)), "C")
            out[f"{name}.num_batches_tracked"] = (np.int64(3), "scalar")
            continue
        if kind == "up":  # transposed conv: (C_in, T, R, S, C_out)
            shape, layout = (c_in, k, k, k, c_out), "CTRSK"
        else:  # conv: (K, T, R, S, C)
            shape, layout = (c_out, k, k, k, c_in), "KTRSC"
        out[f"{name}.weight"] = (values(f"{name}.weight", shape), layout)
        out[f"{name}.bias"] = (values(f"{name}.bias", (c_out,)), "C")
    return out


def canonical_sha256(f):
    """The checksum of FORMAT.md, section "Checksum"."""
    h = hashlib.sha256(b"ctvnet-weights-checksum-v1\n")

    def u64(n):
        return struct.pack("<Q", n & (2**64 - 1))

    objs = {"/": f}
    f.visititems(lambda name, obj: objs.__setitem__("/" + name, obj))
    for path in sorted(objs, key=lambda p: p.encode()):
        obj = objs[path]
        p = path.encode()
        if isinstance(obj, h5py.Dataset):
            a = obj[()]
            a = np.asarray(a)
            code = {"float32": b"f4", "float64": b"f8", "int64": b"i8", "uint64": b"u8"}[a.dtype.name]
            h.update(b"D" + u64(len(p)) + p + code + u64(a.ndim))
            for d in a.shape:
                h.update(u64(d))
            h.update(np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes())
        else:
            h.update(b"G" + u64(len(p)) + p)
        for name in sorted(obj.attrs, key=lambda n: n.encode()):
            if path == "/" and name == "checksum_sha256":
                continue
            v = obj.attrs[name]
            n = name.encode()
            h.update(b"A" + u64(len(n)) + n)
            if isinstance(v, (str, bytes)):
                b = v.encode() if isinstance(v, str) else v
                h.update(b"s" + u64(len(b)) + b)
            else:
                v = np.atleast_1d(v)
                if v.dtype.kind in "iu":
                    h.update(b"i" + u64(v.size) + b"".join(u64(int(x)) for x in v.ravel()))
                else:
                    h.update(b"f" + u64(v.size) + v.astype("<f8").tobytes())
    return h.hexdigest()


INTEGRITY_MAGIC = b"ctvnet-weights-file-sha256-v1\n"
USER_BLOCK = 512


def seal(path):
    """Writes the integrity block (FORMAT.md, "File integrity: the user block") into the
    user block h5py left at the start of the closed file."""
    with open(path, "r+b") as f:
        data = f.read()
        assert data[USER_BLOCK:USER_BLOCK + 8] == b"\x89HDF\r\n\x1a\n", "no 512-byte user block"
        digest = hashlib.sha256(data[USER_BLOCK:]).hexdigest().encode()
        block = INTEGRITY_MAGIC + digest + b"\n"
        f.seek(0)
        f.write(block + bytes(USER_BLOCK - len(block)))
    return digest.decode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/data/weights_h5py.h5")
    args = ap.parse_args()
    with h5py.File(args.out, "w", userblock_size=USER_BLOCK) as f:
        a = f.attrs
        a["format"] = "ctvnet-weights"
        a["format_version"] = 1
        a["kind"] = "weights"
        a["model.in_channels"] = IN_CHANNELS
        a["model.levels"] = LEVELS
        a["model.filters"] = np.array(FILTERS, dtype=np.int64)
        a["model.norm"] = "batch"
        a["model.bn_momentum"] = 0.1
        a["model.bn_eps"] = 1e-5
        a["model.dtype"] = "float32"
        a["model.init_seed"] = np.uint64(20240601)
        a["preprocess.channels"] = "ct,igtv"
        a["preprocess.spacing_mm"] = np.array([2.0, 2.0, 5.0])
        a["preprocess.grid"] = np.array([64, 48, 32], dtype=np.int64)
        a["preprocess.crop"] = "igtv_centroid"
        a["preprocess.hu_window"] = np.array([-1000, 400], dtype=np.int64)
        a["preprocess.hu_offset"] = -1000.0  # (clip(HU) + 1000) / 1400: [-1000, 400] -> [0, 1]
        a["preprocess.hu_scale"] = 1400.0
        a["preprocess.ct_pad_hu"] = -1000.0
        g = f.create_group("model")
        for name, (arr, layout) in tensors().items():
            ds = g.create_dataset(name, data=arr)
            ds.attrs["layout"] = layout
        a["checksum_sha256"] = canonical_sha256(f)
        tensors_written, checksum = len(f["model"]), a["checksum_sha256"]
    file_sha256 = seal(args.out)
    print(f"{args.out}: {tensors_written} tensors, checksum {checksum}, file SHA-256 {file_sha256}")


if __name__ == "__main__":
    main()
