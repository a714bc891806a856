"""What the readiness files (plots, model card, report, checklist) add to ``skbundle.save``.

Saves the demo pipeline alternately with and without the ``write_reports`` writer, in one
process, and prints the median of each and their difference.

Usage: .venv/bin/python benchmarks/save_overhead.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    from skbundle import build, demo

    fitted = demo.fit()
    full = list(build.WRITERS)
    variants = {
        "save() with readiness files": full,
        "save() without them": [w for w in full if w is not build.write_reports],
    }
    times: dict[str, list[float]] = {label: [] for label in variants}
    with tempfile.TemporaryDirectory(prefix="skbundle-save-") as tmp:
        for i in range(args.rounds + 1):  # the first round warms imports up and is dropped
            for label, writers in variants.items():
                build.WRITERS[:] = writers
                start = time.perf_counter()
                fitted.save(f"{tmp}/{i}-{len(writers)}")
                if i:
                    times[label].append(time.perf_counter() - start)
    build.WRITERS[:] = full
    print("| variant | median (ms) |")
    print("|---|---:|")
    medians = {label: statistics.median(v) * 1000 for label, v in times.items()}
    for label, ms in medians.items():
        print(f"| {label} | {ms:.0f} |")
    with_, without = medians.values()
    print(f"\n- readiness files add {with_ - without:.0f} ms per save ({with_ / without:.1f}x)")


if __name__ == "__main__":
    main()
