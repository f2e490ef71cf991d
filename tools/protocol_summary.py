#!/usr/bin/env python3
"""The summary of a tools/paper_protocol.sh run, as Markdown on standard output.

usage: tools/protocol_summary.py OUT

From OUT/runs/<model>/config.json and log.csv: per model its loss, elastic augmentation,
epochs run, the epoch SPEC section 3's rule selected with its validation AM-GM and Dice,
whether the rule had settled (the run stopped) or the epoch limit ended it, and the epoch
time (sum and mean of log.csv's seconds column: wall-clock time of the epochs, validation
included, data preparation not). Then OUT/table1/table1.md and OUT/ablation/table1.md as they
are. Reads only; a missing run or table is said, not skipped silently.
"""
import csv
import json
import os
import sys

MODELS = ["model", "unet_bce", "amgm_noelastic", "bce_elastic"]


def minutes(seconds):
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def training_rows(out):
    rows = []
    for m in MODELS:
        run = os.path.join(out, "runs", m)
        try:
            with open(os.path.join(run, "config.json")) as f:
                config = json.load(f)
            with open(os.path.join(run, "log.csv")) as f:
                log = list(csv.DictReader(f))
        except OSError as e:
            rows.append(f"| {m} | not found: {e.strerror} ({e.filename}) |||||||||")
            continue
        if not log:
            rows.append(f"| {m} | no epoch logged yet |||||||||")
            continue
        last = log[-1]
        selected = int(last["candidate"])
        chosen = log[selected - 1]
        seconds = [float(r["seconds"]) for r in log]
        elastic = config.get("elastic", {})
        copies = elastic.get("copies")
        aug = (f"on ({copies} cop{'y' if copies == 1 else 'ies'})" if elastic.get("enabled")
               else "off")
        limit = int(config.get("epochs", 0))
        if last["saturated"] == "1":
            ended = "settled"
        elif len(log) >= limit:
            ended = f"epoch limit ({limit})"
        else:
            ended = f"not finished (up to {limit})"
        rows.append(
            f"| {m} | {config.get('loss')} | {aug} | {len(log)} | {selected} | "
            f"{float(chosen['val_amgm']):.3f} | {float(chosen['val_dice']):.3f} | {ended} | "
            f"{minutes(sum(seconds))} | {sum(seconds) / len(seconds):.0f} s |")
    return rows


def table(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return f"(not found: {e.filename})\n"
    # Drop the report's own title line (the sections here have theirs); its sections one level
    # down.
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    lines = ["#" + l if l.startswith("## ") else l for l in lines]
    return "\n".join(lines).strip() + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: tools/protocol_summary.py OUT")
    out = sys.argv[1]
    print("## Training\n")
    print("| model | loss | elastic | epochs run | selected epoch | val AM-GM | val Dice | "
          "ended by | epoch time | per epoch |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|---:|")
    for r in training_rows(out):
        print(r)
    print("\nSelected epoch: the earliest whose validation AM-GM loss no later epoch within 10 "
          "improves on by more than 0.001 (SPEC section 3); its weights are the run's best.h5.\n")
    print("## Table 1: the model against the cropped expansions\n")
    print(table(os.path.join(out, "table1", "table1.md")))
    print("## Ablation: the four models\n")
    print(table(os.path.join(out, "ablation", "table1.md")), end="")


if __name__ == "__main__":
    main()
