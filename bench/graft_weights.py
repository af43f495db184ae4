#!/usr/bin/env python3
"""A copy of a semfield model file with a donor model's weights grafted in under a prefix, and config keys overridden.

  python3 bench/graft_weights.py IN.safetensors DONOR.safetensors OUT.safetensors PREFIX \\
                                 [--skip PREFIX2]... [--config '{"colour": "ibr"}'] [--name NAME]

Every tensor of IN is kept; every tensor of DONOR whose name does not start with a --skip prefix is added as
PREFIX + name (an error if IN already has that name). How a GP-NeRF model without a colour head (blend.safetensors:
`git show 0c35733:models/gp-nerf-synth.safetensors`) gains the "ibr" colour's head from an ibr model, reading F_rgb
(models/gp-nerf-synth.md):

  python3 bench/graft_weights.py blend.safetensors ibr-synth.safetensors out.safetensors colour. \\
      --skip encoder. --config '{"colour": "ibr"}'

With its own encoder (`"colour_encoder": "own"`, the shipped model since 2026-12-01 03:45 UTC) the donor goes in
whole, its encoder included:

  python3 bench/graft_weights.py blend.safetensors ibr-synth.safetensors out.safetensors colour. \\
      --config '{"colour": "ibr", "colour_encoder": "own"}'

The model's loader then checks the shapes against the config. Standard library only; written atomically.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_variant import merge  # noqa: E402


def read(path):
    data = open(path, "rb").read()
    if len(data) < 8:
        sys.exit(f"{path}: not a safetensors file (shorter than its header length)")
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        sys.exit(f"{path}: unreadable safetensors header ({e})")
    return header, data[8 + n:]


def take(argv, flag, many=False):
    values = []
    while flag in argv:
        i = argv.index(flag)
        if i + 1 >= len(argv):
            sys.exit(f"{flag} needs a value")
        values.append(argv[i + 1])
        del argv[i:i + 2]
        if not many:
            break
    return values


def main(argv):
    argv = list(argv)
    skips = take(argv, "--skip", many=True)
    config = take(argv, "--config")
    name = take(argv, "--name")
    if len(argv) != 5:
        sys.exit(__doc__)
    src, donor, dst, prefix = argv[1:5]
    header, body = read(src)
    dheader, dbody = read(donor)
    meta_key = "__metadata__"
    tensors = {k: v for k, v in header.items() if k != meta_key}
    out_header = {}
    if meta_key in header:
        out_header[meta_key] = dict(header[meta_key])
    chunks, offset = [], 0
    for key, spec in sorted(tensors.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = spec["data_offsets"]
        chunks.append(body[begin:end])
        out_header[key] = dict(spec, data_offsets=[offset, offset + end - begin])
        offset += end - begin
    grafted = 0
    for key, spec in sorted(dheader.items()):
        if key == meta_key or any(key.startswith(s) for s in skips):
            continue
        new = prefix + key
        if new in out_header:
            sys.exit(f"{src}: already has a tensor {new}")
        begin, end = spec["data_offsets"]
        chunks.append(dbody[begin:end])
        out_header[new] = dict(spec, data_offsets=[offset, offset + end - begin])
        offset += end - begin
        grafted += 1
    if grafted == 0:
        sys.exit(f"{donor}: no tensor to graft")
    if meta_key in out_header and "semfield" in out_header[meta_key]:
        meta = json.loads(out_header[meta_key]["semfield"])
        if config:
            merge(meta["config"], json.loads(config[0]))
        if name:
            meta["name"] = name[0]
        donor_meta = json.loads(dheader.get(meta_key, {}).get("semfield", "{}"))
        meta.setdefault("info", {})["grafted"] = {"prefix": prefix, "from": donor_meta.get("name", donor),
                                                  "tensors": grafted}
        out_header[meta_key]["semfield"] = json.dumps(meta)
    elif config or name:
        sys.exit(f"{src}: no semfield metadata to set a config or name in")
    out = json.dumps(out_header).encode()
    out += b" " * ((8 - len(out) % 8) % 8)  # safetensors keeps the data 8-byte aligned
    with open(dst + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(out)) + out + b"".join(chunks))
    os.replace(dst + ".tmp", dst)
    print(f"{dst}: {len(tensors)} tensors of {src} and {grafted} of {donor} under {prefix}")


if __name__ == "__main__":
    main(sys.argv)
