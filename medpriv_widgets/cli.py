"""Command line: ``medpriv data …``, ``medpriv bench …``, ``medpriv precompute …``.

Every command reuses the core; none imports Jupyter. Errors are printed as one sentence and the
exit status is 2 (bad input) or 1 (failure).
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import MedprivError


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_benchmark

    result = run_benchmark(args.name, quick=args.quick, progress=not args.json)
    if args.json:
        print(json.dumps(result))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _cmd_precompute(args: argparse.Namespace) -> int:
    from .precompute import run_precompute  # provided by the membership/risk work

    run_precompute(profile=args.profile)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .bench import BENCHMARKS
    from .data import commands as data_commands

    parser = argparse.ArgumentParser(
        prog="medpriv", description="Privacy in medical machine learning: data, benchmarks, caches.")
    sub = parser.add_subparsers(dest="command", required=True)

    data_commands.add_parser(sub)

    bench = sub.add_parser("bench", help="run a benchmark and print its numbers",
                           description="Benchmarks: " + "; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items()))
    bench.add_argument("name", choices=sorted(BENCHMARKS))
    bench.add_argument("--quick", action="store_true", help="a smaller run that finishes in under a minute")
    bench.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    bench.set_defaults(func=_cmd_bench)

    pre = sub.add_parser("precompute", help="build every cache the dashboards need, before a workshop")
    pre.add_argument("--profile", choices=["fast", "workshop", "binder"], default="workshop")
    pre.set_defaults(func=_cmd_precompute)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MedprivError as exc:
        print(f"medpriv: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("medpriv: stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
