"""The single-row and load benchmark of ``onnx_runtime.py``, this tree against an earlier commit.

Run from the repository root with the project's virtualenv:

    .venv/bin/python benchmarks/against_release.py --base f7984f5 --rounds 3

The earlier commit is checked out into a temporary git worktree; each round runs
``onnx_runtime.run()`` in a fresh interpreter for the base, then for this tree, alternating,
so that both see the same machine load (this machine has 2 cores and is shared). The table
gives the median over rounds of each figure and the ratio of this tree to the base.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_RUN = (
    "import json, sys, warnings; warnings.simplefilter('ignore'); "
    "sys.path.insert(0, 'benchmarks'); import onnx_runtime; "
    "print(json.dumps(onnx_runtime.run({rounds}, {fast}, {slow}, {loads})))"
)


def _measure(tree: Path, code: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, check=True, capture_output=True,
        text=True,
    ).stdout  # fmt: skip
    r = json.loads(out.strip().splitlines()[-1])
    return {
        "predict p50 (us)": r["predict_onnx_us"]["p50"],
        "predict p99 (us)": r["predict_onnx_us"]["p99"],
        "validate(dict) p50 (us)": r["parts_us"]["validate(dict)"],
        "onnxruntime call p50 (us)": r["parts_us"]["onnxruntime call"],
        "load p50 (ms)": r["load_ms"]["p50"],
        "load min (ms)": r["load_ms"]["min"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the earlier commit to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fast", type=int, default=2000, help="ONNX calls per inner round")
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    code = _RUN.format(rounds=10, fast=args.fast, slow=30, loads=args.loads)
    with tempfile.TemporaryDirectory(prefix="skbundle-base-") as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT, check=True
        )
        try:
            runs: dict[str, list[dict[str, float]]] = {"base": [], "this": []}
            for i in range(args.rounds):
                runs["base"].append(_measure(base, code))
                runs["this"].append(_measure(ROOT, code))
                old, new = runs["base"][-1], runs["this"][-1]
                print(
                    f"round {i + 1}/{args.rounds}: predict p50 {old['predict p50 (us)']:.1f} vs "
                    f"{new['predict p50 (us)']:.1f} us, load p50 {old['load p50 (ms)']:.2f} vs "
                    f"{new['load p50 (ms)']:.2f} ms",
                    file=sys.stderr,
                )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True
            )
    heading = f"measurement (median of {args.rounds} alternating runs)"
    print(f"| {heading} | {args.base} | this tree | ratio |")
    print("|---|---|---|---|")
    for key in runs["base"][0]:
        old = statistics.median(r[key] for r in runs["base"])
        new = statistics.median(r[key] for r in runs["this"])
        print(f"| {key} | {old:.2f} | {new:.2f} | {new / old:.2f}x |")


if __name__ == "__main__":
    main()
