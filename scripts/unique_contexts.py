#!/usr/bin/env python3
"""Writes the distinct contexts of a converted dataset (JSONL {context, ...})
as one text file, in first-seen order: the real-text haystack that
`e2llm synth --haystack` cuts passkeys and needles from.

Usage: scripts/unique_contexts.py IN.jsonl OUT.txt [--one-line]
  --one-line  each context on one line (its newlines become spaces)
"""
import json
import os
import sys


def main():
    args = [a for a in sys.argv[1:] if a != "--one-line"]
    if len(args) != 2:
        sys.exit(__doc__)
    one_line = "--one-line" in sys.argv[1:]
    src, dst = args
    seen = set()
    with open(src) as lines, open(dst + ".tmp", "w") as out:
        for line in lines:
            context = json.loads(line)["context"]
            if context not in seen:
                seen.add(context)
                out.write((context.replace("\n", " ") if one_line else context) + "\n")
    os.replace(dst + ".tmp", dst)


main()
