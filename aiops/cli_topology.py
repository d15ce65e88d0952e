"""``aiops topology ...``: import and inspect the topology."""

from __future__ import annotations

from pathlib import Path

import click

from aiops.cli_base import main, reports_bad_input, runtime_of


@main.group()
def topology() -> None:
    """Import and inspect the topology."""


@topology.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", default="import", show_default=True,
              help="Name recorded as the origin of these nodes and edges.")
@click.pass_context
@reports_bad_input
def topology_import(ctx: click.Context, path: Path, source: str) -> None:
    """Import a canonical topology JSON document (CONTRACTS.md §2)."""
    from topology.loader import read_topology

    nodes, edges = read_topology(path)
    runtime = runtime_of(ctx)
    runtime.import_topology(nodes, edges, source)
    total_nodes, total_edges = runtime.topology_store.counts()
    click.echo(f"imported {len(nodes)} nodes and {len(edges)} edges from {path} "
               f"(topology now {total_nodes} nodes, {total_edges} edges)")
