"""The ``aiops`` command group and what its subcommands share.

Bad input exits with status 2 and a one-line message naming the file, line and
field (or the environment setting); nothing is written in that case.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aiops.config import DataDir
from aiops.errors import BrokerUnavailable, Conflict, DamagedFile, InputError, NotFound
from aiops.learning.embeddings import EmbeddingsUnavailable, text_backend
from aiops.runtime import Runtime, open_runtime
from topology.store import GraphStoreError

EXIT_BAD_INPUT = 2


def _fail(message: str) -> None:
    click.echo(f"aiops: error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def reports_bad_input(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn InputError/NotFound/Conflict into exit status 2 with the message on stderr."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (InputError, NotFound, Conflict) as exc:
            _fail(str(exc))
        except (GraphStoreError, EmbeddingsUnavailable, BrokerUnavailable,
                DamagedFile) as exc:
            # the graph server or the broker is down, the text model is not installed,
            # a model file in the data dir is damaged: not the input's fault
            click.echo(f"aiops: error: {exc}", err=True)
            sys.exit(1)

    return wrapper


def check_files(what: str, loaded: int, errors: list[str], folder: object) -> None:
    """What ``aiops playbooks check`` and ``aiops webhooks check`` print: every refused
    file as an error, a count, and exit 2 if any was refused (for a CI job on a
    repository of such files)."""
    for error in errors:
        click.echo(f"aiops: error: {error}", err=True)
    click.echo(f"{loaded} {what} ok, {len(errors)} refused in {folder}", err=True)
    if errors:
        sys.exit(EXIT_BAD_INPUT)


def runtime_of(ctx: click.Context) -> Runtime:
    if "runtime" not in ctx.obj:
        try:
            ctx.obj["runtime"] = open_runtime(ctx.obj["data_dir"])
        except (GraphStoreError, DamagedFile) as exc:  # --graph-url names a server that
            # does not answer; the promoted model's files are damaged
            click.echo(f"aiops: error: {exc}", err=True)
            sys.exit(1)
        ctx.call_on_close(ctx.obj["runtime"].close)
    return ctx.obj["runtime"]


def progress(total: int, label: str):
    return click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                             show_eta=True, item_show_func=None)


@click.group()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              envvar="AIOPS_DATA_DIR", default="aiops-data", show_default=True,
              help="Where the engine keeps its database and files.")
@click.option("--database-url", envvar="AIOPS_DATABASE_URL", default=None,
              help="SQLAlchemy URL (e.g. postgresql://...); default: SQLite in the data dir.")
@click.option("--graph-url", envvar="AIOPS_GRAPH_URL", default=None,
              help="Keep the topology in Neo4j (bolt://user:password@host:7687); "
                   "default: tables in the database.")
@click.version_option(package_name="aiops-engine")
@click.pass_context
def main(ctx: click.Context, data_dir: Path, database_url: str | None,
         graph_url: str | None) -> None:
    """Alert correlation and root-cause engine."""
    ctx.ensure_object(dict)
    try:  # a mistyped AIOPS_* setting is refused by name before any work
        ctx.obj["data_dir"] = DataDir.from_env(data_dir, database_url, graph_url)
        text_backend()
    except (ValueError, EmbeddingsUnavailable) as exc:
        _fail(str(exc))
