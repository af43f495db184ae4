#!/usr/bin/env python3
"""A copy of a semfield model file with config keys overridden, for ablations of switches that need no retraining.

  python3 bench/model_variant.py IN.safetensors OUT.safetensors '{"semantic_weights": "sdf"}' [--keep-name]
                                  [--info '{"stages": [...]}'] [--name NAME]

The weights are copied byte for byte; only the config in the file's __metadata__ changes (and its name gains the
overrides, unless --keep-name: how a shipped model's config was given a key it lacked, e.g. "encode_size"). Nested
objects merge key by key ('{"radiance": {"encode_size": 128}}' keeps the radiance config's other keys). OUT may be
IN. --name sets the model's name; --info merges keys into the file's "info" the same way (a recipe's stages written
into a shipped model). Standard library only.
"""
import json
import os
import struct
import sys


def merge(config, overrides):
    """Overrides `config` in place, recursing into objects present in both."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = value


def main(argv):
    keep_name = "--keep-name" in argv
    argv = [a for a in argv if a != "--keep-name"]
    info = {}
    if "--info" in argv:
        i = argv.index("--info")
        if i + 1 >= len(argv):
            sys.exit("--info needs a JSON object")
        info = json.loads(argv[i + 1])
        if not isinstance(info, dict):
            sys.exit("--info needs a JSON object")
        del argv[i:i + 2]
    name = None
    if "--name" in argv:
        i = argv.index("--name")
        if i + 1 >= len(argv):
            sys.exit("--name needs a name")
        name = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) != 4:
        sys.exit(__doc__)
    src, dst, overrides = argv[1], argv[2], json.loads(argv[3])
    data = open(src, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["semfield"])
    merge(meta["config"], overrides)
    merge(meta.setdefault("info", {}), info)
    if not keep_name:
        meta["name"] = meta.get("name", "model") + "-" + "-".join(f"{k}={v}" for k, v in overrides.items())
    if name is not None:
        meta["name"] = name
    header["__metadata__"]["semfield"] = json.dumps(meta)
    out = json.dumps(header).encode()
    out += b" " * ((8 - len(out) % 8) % 8)  # safetensors keeps the data 8-byte aligned
    with open(dst + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(out)) + out + data[8 + n:])
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main(sys.argv)
