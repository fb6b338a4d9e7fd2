"""Run one AnoMed part as a server, as AnoMed's containers do::

    python -m medpriv_widgets.arena.anomed.serve challenge --scenario pneumonia-28 --port 8000
    CHALLENGE_HOST=127.0.0.1:8000 python -m medpriv_widgets.arena.anomed.serve anonymizer \
        --defence dpsgd-eps8 --port 8001
    CHALLENGE_HOST=127.0.0.1:8000 ATTACK_TARGET_HOST=127.0.0.1:8001 \
        python -m medpriv_widgets.arena.anomed.serve deanonymizer --anonymizer-id arena-anonymizer

Hosts come from AnoMed's environment variables (read here, at the entry point, only). Ctrl-C
stops the server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _host(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise SystemExit(f"Set {var} (host:port of that AnoMed part) first.")
    return value if value.startswith("http") else f"http://{value}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m medpriv_widgets.arena.anomed.serve")
    p.add_argument("part", choices=("challenge", "anonymizer", "deanonymizer"))
    p.add_argument("--scenario", default="pneumonia-28")
    p.add_argument("--defence", default="dpsgd-eps8")
    p.add_argument("--anonymizer-id", default="arena-anonymizer")
    p.add_argument("--deanonymizer-id", default="arena-lira")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    from ..data import scenario_data
    from ..scenarios import get_scenario
    from . import (ArenaAnonymizer, ArenaChallenge, LiraDeanonymizer, challenge_data,
                   serve_anonymizer, serve_challenge, serve_deanonymizer)

    if args.part == "challenge":
        server = serve_challenge(ArenaChallenge(challenge_data(scenario_data(
            get_scenario(args.scenario)))), host=args.host, port=args.port)
    elif args.part == "anonymizer":
        server = serve_anonymizer(ArenaAnonymizer(args.defence, scenario=args.scenario),
                                  challenge_url=_host("CHALLENGE_HOST"),
                                  anonymizer_id=args.anonymizer_id, host=args.host,
                                  port=args.port)
    else:
        server = serve_deanonymizer(LiraDeanonymizer(scenario=args.scenario),
                                    challenge_url=_host("CHALLENGE_HOST"),
                                    target_url=_host("ATTACK_TARGET_HOST"),
                                    anonymizer_id=args.anonymizer_id,
                                    deanonymizer_id=args.deanonymizer_id, host=args.host,
                                    port=args.port)
    print(f"AnoMed {args.part} serving on {server.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
