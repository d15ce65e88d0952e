"""Requests refused while an editor saves the tokens file (docs/contracts.md, "Access
tokens"; aiops/api/tokens_reload.py).

Why: a file that is missing or empty must end up letting no token in (deleting it is
how an operator shuts every client out), but editors pass through both states while
saving, and a request that looks then must not be refused for a token the file holds
before and after. This measures how often that happens with and without the grace
``TokensFile`` gives a missing or empty file.

The access hook (``install`` and ``TokensFile``, as ``aiops serve`` runs them) guards
a one-route Flask app served over real HTTP (werkzeug, threaded). Two client threads
send requests with a token every version of the file holds, as fast as they can,
while the file is saved ``--saves`` times, alternating between two versions of
different sizes (21 tokens, with and without a comment line), three ways:

* ``vim in place``: the real ``vim`` writing the file, as it does here (open,
  ``ftruncate``, ``write``: the file is empty for an instant);
* ``rename away``: the old file renamed to ``FILE~``, the new one written, the backup
  removed (emacs' default; vim with ``backupcopy=no``): the name is missing for an
  instant;
* ``atomic rename``: a temporary file written and renamed over the name.

It prints, per way and grace, the answers (200: let in, 401: refused) and how many
times the server found the file missing or empty.

Usage: .venv/bin/python -m benchmarks.token_saves [--saves 1000] [--grace 0 2]
       [--write-docs]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from flask import Flask
from werkzeug.serving import make_server

from aiops.api.access import install, token_line
from aiops.api.tokens_reload import TokensFile
from benchmarks.machine import cpu_model
from benchmarks.remediation import write_section

TOKEN = "kept-token-0123456789"
START, END = "<!-- token-saves:start -->", "<!-- token-saves:end -->"


@dataclass(frozen=True)
class Outcome:
    """One way of saving, with one grace: the answers and the absent reads."""

    way: str
    grace: float
    saves: int
    seconds: float
    answers: dict[int, int]
    absent: int


class _Counting(logging.Handler):
    """Counts the server's "missing or empty, the tokens stay" warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.absent = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "in case it is being saved" in record.getMessage():
            self.absent += 1


def _savers(path: Path, scratch: Path) -> dict[str, Callable[[str], None]]:
    def vim_in_place(text: str) -> None:
        scratch.write_text(text, encoding="utf-8")
        subprocess.run(["vim", "-Es", "-N", "-u", "NONE", "-c", "%d", "-c",
                        f"0r {scratch}", "-c", "wq", str(path)], check=True)

    def rename_away(text: str) -> None:
        os.rename(path, f"{path}~")
        path.write_text(text, encoding="utf-8")
        os.unlink(f"{path}~")

    def atomic_rename(text: str) -> None:
        temporary = Path(f"{path}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)

    ways = {"rename away, write": rename_away, "temporary file renamed over": atomic_rename}
    if shutil.which("vim"):
        ways = {"vim in place (ftruncate, write)": vim_in_place, **ways}
    return ways


def _ask(url: str, stop: threading.Event, answers: Counter[int]) -> None:
    """Requests with the token every version holds, until ``stop``."""
    session = requests.Session()
    while not stop.is_set():
        answer = session.get(url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"})
        answers[answer.status_code] += 1


def run(saves: int, grace: float, folder: Path) -> list[Outcome]:
    path = folder / "tokens"
    others = "\n".join(token_line(f"t{i}", ["read"], f"other-{i}-0123456789")
                       for i in range(20))
    versions = [f"{token_line('kept', ['read'], TOKEN)}\n{others}\n",
                f"{token_line('kept', ['read'], TOKEN)}\n{others}\n# a comment\n"]
    path.write_text(versions[0], encoding="utf-8")
    app = Flask(__name__)
    app.add_url_rule("/api/v1/x", "ok", lambda: "ok")  # JSON refusals
    install(app, TokensFile(path, absent_grace=grace))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    url = f"http://127.0.0.1:{server.server_port}/api/v1/x"
    counting = _Counting()
    reload_log = logging.getLogger("aiops.api.tokens_reload")
    reload_log.addHandler(counting)
    reload_log.propagate = False  # counted, not printed
    outcomes = []
    try:
        for way, save in _savers(path, folder / "scratch").items():
            answers: Counter[int] = Counter()
            stop = threading.Event()

            clients = [threading.Thread(target=_ask, args=(url, stop, answers))
                       for _ in range(2)]
            for client in clients:
                client.start()
            counting.absent = 0
            started = time.perf_counter()
            for number in range(saves):
                save(versions[(number + 1) % 2])
                time.sleep(0.005)
            stop.set()
            for client in clients:
                client.join()
            outcome = Outcome(way, grace, saves, time.perf_counter() - started,
                              dict(sorted(answers.items())), counting.absent)
            outcomes.append(outcome)
            print(f"grace {grace:g} s, {way}: {saves} saves in {outcome.seconds:.1f} s; "
                  f"answers {outcome.answers}; the server found the file missing or "
                  f"empty {outcome.absent} times", flush=True)
    finally:
        reload_log.removeHandler(counting)
        server.shutdown()
    return outcomes


def section(outcomes: list[Outcome], command: str, began: datetime) -> str:
    """The docs/benchmarks.md section of a run."""
    load = os.getloadavg()[0]
    lines = [
        "## Saving the tokens file: requests refused mid-save", "",
        f"Measured {began:%Y-%m-%d %H:%M} UTC on {cpu_model()} ({os.cpu_count()} CPUs; "
        f"1-minute load average {load:.1f} at the end), Python "
        f"{platform.python_version()}.", "",
        f"Command: `{command}`", "",
        "The access hook (`install`, `TokensFile`) guards a one-route app served over "
        "real HTTP; two client threads send requests with a token that every version of "
        f"the file holds while the file (21 tokens) is saved {outcomes[0].saves:,} times "
        "per row, alternating between two sizes. A 401 is a request refused that should "
        "have been let in; the last column counts the reads that found the file missing "
        "or empty.", "",
        "| save | grace | answers 200 | answers 401 | file found missing or empty |",
        "|---|---:|---:|---:|---:|",
    ]
    for outcome in outcomes:
        lines.append(f"| {outcome.way} | {outcome.grace:g} s | "
                     f"{outcome.answers.get(200, 0):,} | {outcome.answers.get(401, 0):,} | "
                     f"{outcome.absent:,} |")
    lines += [
        "", "Why `aiops serve` keeps the tokens in use for 2 seconds after it finds the "
        "file missing or empty, then lets none in (docs/contracts.md, \"Access tokens\"): "
        "editors pass through both states on ordinary saves (vim writes in place, so the "
        "file is empty for an instant; emacs renames the old file away first), and "
        "without the grace some requests landing then are refused (how many varies from "
        "run to run with the timing of requests and saves); a file renamed over the name "
        "whole is never seen half-done.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument("--grace", type=float, nargs="+", default=[0.0, 2.0])
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the section between the markers in benchmarks.md")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    began = datetime.now(UTC)
    outcomes = []
    for grace in args.grace:
        with tempfile.TemporaryDirectory() as folder:
            outcomes += run(args.saves, grace, Path(folder))
    command = (f".venv/bin/python -m benchmarks.token_saves --saves {args.saves} --grace "
               f"{' '.join(f'{g:g}' for g in args.grace)}")
    text = section(outcomes, command, began)
    print(text)
    if args.write_docs:
        write_section(text, START, END)


if __name__ == "__main__":
    main()
