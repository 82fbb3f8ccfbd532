"""Longer fuzz runs from the command line, and replay of a saved finding.

    nice -n 10 python tests/fuzz/run.py --trials 5000                 # every format, 5000 trials each
    python tests/fuzz/run.py --format xgbrs --trials 200 --seed 7
    python tests/fuzz/run.py --replay /tmp/gbinfer-fuzz/xgbrs-0-123.xgbrs   # one verdict, in this process
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for the fuzz package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for gbinfer

from fuzz import harness  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", choices=("all",) + harness.FORMATS, default="all")
    p.add_argument("--trials", type=int, default=1000, help="trials per format")
    p.add_argument("--seed", type=int, default=0, help="base seed (trial t of seed s is always the same file)")
    p.add_argument("--findings", type=Path, default=Path("/tmp/gbinfer-fuzz"), help="where findings are saved")
    p.add_argument("--replay", type=Path, help="judge one saved file in this process and print the verdict")
    args = p.parse_args(argv)
    if args.replay:
        from fuzz import worker

        print(json.dumps(worker.verdict(str(args.replay)), indent=1))
        return 0
    formats = harness.FORMATS if args.format == "all" else (args.format,)
    total = 0
    for fmt in formats:
        report = harness.run(fmt, args.trials, base_seed=args.seed, findings_dir=args.findings,
                             progress=max(args.trials // 10, 1))
        print(report.line(), flush=True)
        print("  refused at:", ", ".join(f"{k} {v}" for k, v in report.refused_at.most_common(12)))
        for kind, detail, saved in report.findings[:50]:
            print(f"  {kind}: {detail.splitlines()[-1] if detail else ''} [{saved}]")
        total += len(report.findings)
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
