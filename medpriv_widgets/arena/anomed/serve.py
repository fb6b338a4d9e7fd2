"""Run one AnoMed part as a server, as AnoMed's containers do::

    python -m medpriv_widgets.arena.anomed.serve challenge --scenario pneumonia-28 --port 8000
    CHALLENGE_HOST=127.0.0.1:8000 python -m medpriv_widgets.arena.anomed.serve anonymizer \
        --defence dpsgd-eps8 --port 8001
    CHALLENGE_HOST=127.0.0.1:8000 ATTACK_TARGET_HOST=127.0.0.1:8001 \
        python -m medpriv_widgets.arena.anomed.serve deanonymizer --anonymizer-id arena-anonymizer

Hosts come from AnoMed's environment variables (read here, at the entry point, only). Ctrl-C
stops the server. Called from Python, :func:`main` raises InvalidParameterError for arguments it
cannot use (from the shell: the usage and that sentence, exit status 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ...errors import InvalidParameterError, MedprivError


class _Parser(argparse.ArgumentParser):
    """Refuses arguments with a typed error instead of exiting the caller's process."""

    def error(self, message: str):
        raise InvalidParameterError(f"{self.format_usage().strip()}\n{message[:1].upper()}"
                                    f"{message[1:].rstrip('.')}; run with --help to see the "
                                    f"choices.")


def _host(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise InvalidParameterError(f"Set {var} (host:port of that AnoMed part) first.")
    return value if value.startswith("http") else f"http://{value}"


def main(argv: list[str] | None = None) -> int:
    if argv is not None and (isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple))
                             or not all(isinstance(a, str) for a in argv)):
        raise InvalidParameterError(f"`argv` must be a list of strings such as ['challenge', "
                                    f"'--port', '8000'], or None for the command line; got "
                                    f"{argv!r:.100}.")
    p = _Parser(prog="python -m medpriv_widgets.arena.anomed.serve")
    p.add_argument("part", choices=("challenge", "anonymizer", "deanonymizer"))
    p.add_argument("--scenario", default="pneumonia-28")
    p.add_argument("--defence", default="dpsgd-eps8")
    p.add_argument("--anonymizer-id", default="arena-anonymizer")
    p.add_argument("--deanonymizer-id", default="arena-lira")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(list(argv) if argv is not None else None)
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
    try:
        sys.exit(main())
    except MedprivError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2 if isinstance(exc, InvalidParameterError) else 1)  # 2: as argparse
