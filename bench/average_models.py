#!/usr/bin/env python3
"""Uniform average of the weights of model files of one architecture (checkpoint averaging, as in SWA).

Usage: python3 bench/average_models.py OUT.safetensors A.safetensors B.safetensors [...]
Every tensor must have the same name, dtype and shape in every input; F32 tensors are averaged, others (none in
today's models) are taken from the first file, as is the metadata (name, type, config, steps). Standard library
only (the safetensors layout: an 8-byte little-endian header length, a JSON header, the raw data).
"""
import array
import json
import os
import struct
import sys


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, inputs = sys.argv[1], sys.argv[2:]
    files = [read(p) for p in inputs]
    head, first = files[0]
    body = bytearray(first)
    for name, info in head.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        for path, (h, _) in zip(inputs, files):
            other = h.get(name)
            if other is None or other["dtype"] != info["dtype"] or other["shape"] != info["shape"] \
                    or other["data_offsets"] != info["data_offsets"]:
                sys.exit(f"{path}: tensor {name} differs from {inputs[0]}'s (name, dtype, shape or layout)")
        if info["dtype"] != "F32":
            continue
        values = [array.array("f", d[begin:end]) for _, d in files]
        body[begin:end] = array.array("f", [sum(v) / len(v) for v in zip(*values)]).tobytes()
    header = json.dumps(head, separators=(",", ":")).encode()
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(body))
    os.replace(tmp, out)
    print(f"{out}: the average of {len(inputs)} models")


if __name__ == "__main__":
    main()
