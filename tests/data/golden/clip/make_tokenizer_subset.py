#!/usr/bin/env python3
"""Writes tokenizer_subset/{vocab.json,merges.txt}: the CLIP BPE tables reduced to what the golden strings use.

Usage: make_tokenizer_subset.py ../shared/golden/clip/bpe_simple_vocab_16e6.txt.gz texts.json tokenizer_subset/

BPE picks, at each step, the lowest-ranked merge among the word's adjacent pairs, so keeping exactly the merges
that fire on the test words (in their original relative order) reproduces the same tokens; ids keep their
original values (vocab.json maps token -> original id). The golden strings are ASCII, so the pre-tokeniser
below only needs ASCII classes. Standard library only.
"""
import gzip, html, json, re, sys


def byte_symbols():
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    order = [table[b] for b in range(256) if b in printable] + [table[b] for b in range(256) if b not in printable]
    return table, order


def main(gz_path, texts_path, out_dir):
    lines = gzip.open(gz_path, "rt", encoding="utf-8").read().split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    ranks = {m: i for i, m in enumerate(merges)}
    table, order = byte_symbols()
    vocab = order + [s + "</w>" for s in order] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    ids = {tok: i for i, tok in enumerate(vocab)}
    used = set()
    pattern = re.compile(r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")
    for entry in json.load(open(texts_path))["texts"]:
        text = re.sub(r"\s+", " ", html.unescape(html.unescape(entry["text"])).strip()).strip().lower()
        for word in pattern.findall(text):
            symbols = list("".join(table[b] for b in word.encode("utf-8")))
            symbols[-1] += "</w>"
            while len(symbols) > 1:
                pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(symbols, symbols[1:]))]
                rank, _ = min(pairs)
                if rank == 1 << 30:
                    break
                first, second = merges[rank]
                used.add(rank)
                merged, i = [], 0
                while i < len(symbols):
                    if i + 1 < len(symbols) and symbols[i] == first and symbols[i + 1] == second:
                        merged.append(first + second)
                        i += 2
                    else:
                        merged.append(symbols[i])
                        i += 1
                symbols = merged
    keep = sorted(used)
    tokens = order + [s + "</w>" for s in order] + ["".join(merges[r]) for r in keep] + ["<|startoftext|>", "<|endoftext|>"]
    json.dump({tok: ids[tok] for tok in tokens}, open(out_dir + "/vocab.json", "w"), ensure_ascii=False, indent=0)
    with open(out_dir + "/merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for r in keep:
            f.write(" ".join(merges[r]) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
