#!/usr/bin/env python3
"""A command fitness that needs no PyTorch: it trains lossgp's own small network on the UCI
digits with the candidate loss, through `lossgp train`, and writes the validation accuracy to
result.json. It stands for any training script of yours; lossgp runs it once per candidate:

    python3 train.py --loss-file {loss_py} --seed {seed} --budget {budget} --out {out}

It reads the candidate's expression from loss.txt beside the module (the job folder), and runs
`lossgp` from $LOSSGP (default: `lossgp` on PATH). --crash-once FILE makes its first run die by
SIGKILL (creating FILE), as a node lost mid-training would: lossgp must retry it.
"""
import argparse
import json
import os
import signal
import subprocess
import sys

# The full training run: one epoch of 800 digits at batch 32 (25 steps); a rung of successive
# halving trains its budget's share of those steps.
SAMPLES, BATCH, FULL_STEPS = 800, 32, 25


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss-file", required=True, help="the candidate's module (loss.py)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--out", required=True, help="where result.json goes")
    parser.add_argument("--crash-once", help="die by SIGKILL on the first run, creating this file")
    args = parser.parse_args()
    if args.crash_once and not os.path.exists(args.crash_once):
        open(args.crash_once, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    folder = os.path.dirname(os.path.abspath(args.loss_file))
    job = json.load(open(os.path.join(folder, "job.json")))
    steps = max(1, round(args.budget * FULL_STEPS))
    command = [
        os.environ.get("LOSSGP", "lossgp"), "train", "--json", "--dataset", "digits", "--model", "small-cnn",
        "--loss", f"{job['reduction']}: {job['loss']}", "--seed", str(args.seed), "--epochs", "1",
        "--batch-size", str(BATCH), "--train-samples", str(SAMPLES), "--max-steps", str(steps),
        "--loader-threads", "1", "--no-test",
    ]
    run = subprocess.run(command, stdout=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"lossgp train failed with exit code {run.returncode}")
    report = json.loads(run.stdout)
    curve = [e["validation"]["accuracy"] for e in report["epochs"] if e.get("validation")]
    result = {"fitness": report["fitness"], "status": report["status"]["kind"], "steps": steps, "curve": curve}
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
