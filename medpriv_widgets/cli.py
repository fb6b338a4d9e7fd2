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
    """Build every cache a profile's dashboards read: the plan first, then one tqdm bar."""
    from tqdm import tqdm

    from .cache import default_store
    from .experiments import human_seconds, run_stages
    from .experiments.profiles import profile_stages

    store = default_store()
    stages = profile_stages(args.profile, parts=args.parts or _all_parts())
    todo = [s for s in stages if not s.is_done(store)]
    seconds = sum(s.seconds_left(store) for s in todo)
    print(f"medpriv precompute --profile {args.profile}: {len(todo)} of {len(stages)} pieces to "
          f"compute, about {human_seconds(seconds)} on 2 CPU cores (less on a GPU); cache: "
          f"{store.root}", flush=True)
    with tqdm(total=max(round(seconds), 1), unit="s", desc=f"precompute {args.profile}",
              bar_format="{l_bar}{bar}| {elapsed}<{remaining} {postfix}") as bar:
        for p in run_stages(stages, cache=store):
            bar.n = min(round(p.done), bar.total)
            bar.set_postfix_str(p.message[:70], refresh=True)
        print(p.message)
    return 0


def _all_parts():
    from .experiments.profiles import PARTS

    return PARTS


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

    pre = sub.add_parser("precompute", help="build every cache the dashboards need, before a workshop",
                         description="Compute, once, everything a profile's dashboards read, so "
                                     "their sliders answer instantly. Ctrl-C stops cleanly; what "
                                     "finished stays cached.")
    pre.add_argument("--profile", choices=["fast", "binder", "workshop"], default="workshop")
    pre.add_argument("--parts", nargs="+", choices=list(_all_parts()), default=None,
                     help="only these parts (default: all)")
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
