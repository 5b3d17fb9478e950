#!/usr/bin/env python3
"""How often each digit of a numeric answer is right, per task (passkey, needle).

Usage: scripts/digit_accuracy.py DATA.jsonl EVAL_DIR...
DATA.jsonl is what `e2llm synth` wrote; each EVAL_DIR holds the predictions.jsonl of an
`e2llm eval` run on it. The i-th digit counts as right when the first number in the
prediction has that digit at place i. A key is learned digit by digit (docs/model.md), so
this shows progress long before whole answers are right. Digit places held by fewer
than half of a task's answers (the keys have 1 to 5 digits) are left out.
"""
import json
import re
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    answers = {}
    for line in open(sys.argv[1]):
        e = json.loads(line)
        answers[e["id"]] = (e["answers"][0], e["meta"]["task"])
    for folder in sys.argv[2:]:
        tasks = {}
        for line in open(folder + "/predictions.jsonl"):
            p = json.loads(line)
            if p["id"] not in answers:
                continue
            answer, task = answers[p["id"]]
            number = re.search(r"\d+", p["prediction"])
            got = number.group(0) if number else ""
            t = tasks.setdefault(task, {"n": 0, "exact": 0, "right": [], "seen": []})
            t["n"] += 1
            t["exact"] += got == answer
            for i, digit in enumerate(answer):
                if i == len(t["seen"]):
                    t["seen"].append(0)
                    t["right"].append(0)
                t["seen"][i] += 1
                t["right"][i] += i < len(got) and got[i] == digit
        for task, t in sorted(tasks.items()):
            places = [100 * r // s for r, s in zip(t["right"], t["seen"]) if s >= t["n"] / 2]
            print(f"{folder} {task}: n = {t['n']}, exact {100 * t['exact'] / t['n']:.0f}%, "
                  f"digits {' / '.join(str(p) for p in places)}%")


if __name__ == "__main__":
    main()
