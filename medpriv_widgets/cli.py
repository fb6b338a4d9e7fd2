"""Command line: ``medpriv data …``, ``medpriv bench …``, ``medpriv precompute …``, and for
instructors ``medpriv exercises …``, ``medpriv doctor``, ``medpriv serve``.

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


def _cmd_exercises(args: argparse.Namespace) -> int:
    """List the exercises; write otter autograders; grade a class's notebooks."""
    from .exercises import grading, list_exercises

    if args.action == "autograder":
        from .exercises import lessons

        for lesson in args.lesson or lessons():
            print(grading.write_autograder(lesson, args.out))
        return 0
    if args.action == "grade":
        rows = grading.grade(args.submissions, lesson=args.lesson)
        if args.csv:
            import csv

            with open(args.csv, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        if args.json:
            print(json.dumps(rows))
        else:
            for r in rows:
                print(f"{r['submission']}: {r['score']:g} of {r['possible']}"
                      + (f" — {r['error']}" if r["error"] else ""))
        return 0
    rows = list_exercises(lesson=args.lesson)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['id']:<14} lesson {r['lesson']}  {r['kind']:<8} {r['title']}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    """One table: data, caches, device, memory, disk (and the classroom budget when set)."""
    from .doctor import as_json, as_table, diagnose

    rows = diagnose(profile=args.profile, seats=args.seats)
    report = as_json(rows)
    print(json.dumps(report, ensure_ascii=False) if args.json else as_table(rows))
    return 0 if report["ready"] else 1


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    return serve(folder=args.folder, port=args.port, ip=args.ip, open_browser=args.browser)


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

    from .exercises import lessons

    ex = sub.add_parser("exercises", help="list the lessons' exercises; grade a class (otter-grader)",
                        description="Without an action: list the exercises (id, lesson, title). "
                                    "'autograder' writes otter-grader's autograder zips; 'grade' "
                                    "grades submitted lesson notebooks with them.")
    ex.add_argument("--lesson", choices=lessons(), default=None, help="only this lesson")
    ex.add_argument("--json", action="store_true", help="print JSON and nothing else")
    ex.set_defaults(func=_cmd_exercises, action=None)
    ex_sub = ex.add_subparsers(dest="action")
    ag = ex_sub.add_parser("autograder", help="write <lesson>_autograder.zip for otter-grader")
    ag.add_argument("--out", required=True, help="folder for the zip files")
    ag.add_argument("--lesson", nargs="+", choices=lessons(), default=None)
    gr = ex_sub.add_parser("grade", help="grade submitted notebooks of one lesson (otter-grader)")
    gr.add_argument("--lesson", required=True, choices=lessons())
    gr.add_argument("submissions", nargs="+", help="the learners' .ipynb files")
    gr.add_argument("--csv", default=None, help="also write the grades to this CSV file")
    gr.add_argument("--json", action="store_true", help="print JSON and nothing else")

    doc = sub.add_parser("doctor", help="is this machine ready for a workshop? one table",
                         description="Checks data, pre-computed caches, device, memory and disk "
                                     "(and the classroom budget when MEDPRIV_CLASSROOM_LEDGER is "
                                     "set); exit status 0 when everything is ready.")
    doc.add_argument("--profile", choices=["fast", "binder", "workshop"], default="workshop",
                     help="whose caches to look for")
    doc.add_argument("--seats", type=int, default=1,
                     help="learners this machine serves at once (for the memory check)")
    doc.add_argument("--json", action="store_true", help="print JSON and nothing else")
    doc.set_defaults(func=_cmd_doctor)

    srv = sub.add_parser("serve", help="the lessons as code-free dashboards (Voila)",
                         description="Copies the lessons (without exercises) to a folder and "
                                     "serves them with Voila: code hidden, widgets working.")
    srv.add_argument("--port", type=int, default=8866)
    srv.add_argument("--ip", default="127.0.0.1",
                     help="address to listen on (0.0.0.0: every network interface)")
    srv.add_argument("--folder", default=None,
                     help="where the dashboard copies go (default ~/medpriv-dashboards)")
    srv.add_argument("--browser", action="store_true", help="open a web browser")
    srv.set_defaults(func=_cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; ``argv``: the words after ``medpriv`` (a list of str; None: sys.argv).

    A bad command line ends with the usage and a sentence (exit status 2), as argparse does.
    """
    parser = build_parser()
    if argv is not None and (isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple))
                             or not all(isinstance(a, str) for a in argv)):
        parser.error(f"the command line must be a list of words (str), e.g. ['data', 'status']; "
                     f"got {argv!r:.80}.")
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MedprivError as exc:
        print(f"medpriv: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print("medpriv: stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader has gone (`medpriv exercises --json | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # a path on the command line that cannot be read or written
        print(f"medpriv: {exc.strerror or exc}: {exc.filename or ''}. Check the path and its "
              f"permissions.", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
