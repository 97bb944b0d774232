#!/usr/bin/env python3
"""Check crate/assets/tokenizer.json.gz against tests/fixtures/tokenizer/prompts.json.

Needs only the `tokenizers` package; run it with the version the Rust crate uses
(see requirements-verify.txt) as well as with the one in requirements.txt:
    python tests/gen/verify_tokenizer.py
Exit status 0 when every prompt not marked known_mismatch gives exactly its
reference ids (and every known mismatch still differs in the recorded way).
"""
import gzip
import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


def main():
    with gzip.open(os.path.join(ROOT, "crate", "assets", "tokenizer.json.gz"), "rb") as f:
        tok = Tokenizer.from_buffer(f.read())
    with open(os.path.join(ROOT, "tests", "fixtures", "tokenizer", "prompts.json"), encoding="utf-8") as f:
        entries = json.load(f)
    bad = 0
    for e in entries:
        enc = tok.encode(e["prompt"])
        ids = enc.ids
        assert len(ids) == 77, (e["prompt"], len(ids))
        if e.get("known_mismatch"):
            if ids != e["tokenizer_json_ids"]:
                print("known mismatch changed:", repr(e["prompt"]), ids)
                bad += 1
            continue
        if ids != e["input_ids"]:
            print("MISMATCH", repr(e["prompt"]), "\n ref", e["input_ids"], "\n got", ids)
            bad += 1
    n_known = sum(1 for e in entries if e.get("known_mismatch"))
    print(f"tokenizers {tokenizers.__version__}: {len(entries)} prompts, {n_known} known mismatches, {bad} failures")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
