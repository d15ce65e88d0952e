"""``aiops topology ...`` and ``aiops alerts unresolved``: build, inspect and export the
topology, and list the alerts it could not place.

Discovery commands read their whole source before writing anything; a source that
answers garbage exits with 2, one that does not answer in full (timeout, dropped
connection, HTTP 5xx) with 1, and in both cases the stored topology is unchanged.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from aiops.cli_base import main, reports_bad_input, runtime_of
from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339

EXIT_UNREACHABLE = 1


@main.group()
def topology() -> None:
    """Import, discover, inspect and export the topology."""


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


# --- discovery ------------------------------------------------------------------------

def reports_unreachable(func: Callable[..., Any]) -> Callable[..., Any]:
    """A source that did not answer in full: exit 1 with the message, nothing written."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from topology.discovery.base import SourceUnreachable

        try:
            return func(*args, **kwargs)
        except SourceUnreachable as exc:
            click.echo(f"aiops: error: {exc}; the stored topology was not changed", err=True)
            sys.exit(EXIT_UNREACHABLE)

    return wrapper


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option("--json", "as_json", is_flag=True,
                        help="Print the run report as JSON.")(func)
    return click.option("--report", "report_path", type=click.Path(dir_okay=False,
                                                                   path_type=Path),
                        help="Also write the run report (JSON) to this file.")(func)


def _run(ctx: click.Context, connector: Any, as_json: bool, report_path: Path | None) -> None:
    """Sync one source into the store, refresh the engine's topology, print the report."""
    from topology.conflicts import ConflictLog
    from topology.discovery.sync import sync

    runtime: Runtime = runtime_of(ctx)
    report = sync(connector, runtime.topology_store, ConflictLog(runtime.db))
    runtime.reload_topology()
    doc = report.to_dict()
    if report_path is not None:
        from aiops.replay import write_json_atomically

        write_json_atomically(report_path, doc)
    if as_json:
        click.echo(json.dumps(doc, indent=1))
        return
    click.echo(f"{report.source}: wrote {report.nodes} nodes ({report.new_nodes} new) and "
               f"{report.edges} edges ({report.new_edges} new); topology now "
               f"{report.total_nodes} nodes, {report.total_edges} edges")
    for old, new in sorted(report.merged.items()):
        click.echo(f"  merged: {old} -> {new}")
    for conflict in report.conflicts:
        click.echo(f"  conflict: {conflict.message}")
    for warning in report.warnings:
        click.echo(f"  skipped: {warning}")


@topology.group()
def discover() -> None:
    """Read a discovery source and merge what it finds into the topology."""


@discover.command("lldp")
@click.option("--from-file", "files", multiple=True,
              type=click.Path(dir_okay=False, exists=False),
              help="Saved `lldpcli -f json show neighbors` output (repeatable).")
@click.option("--host", "hosts", multiple=True,
              help="Whose neighbours each --from-file lists (default: the file name).")
@click.option("--snmp", "snmp_hosts", multiple=True,
              help="Walk LLDP-MIB on this SNMP agent (repeatable).")
@click.option("--community", default="public", show_default=True, help="SNMPv2c community.")
@click.option("--snmp-port", default=161, show_default=True, type=click.IntRange(1, 65535))
@click.option("--local", is_flag=True, help="Ask this host's lldpd through lldpcli.")
@click.option("--socket", help="lldpd control socket for --local.")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Seconds per SNMP request or lldpcli call.")
@report_options
@click.pass_context
@reports_bad_input
@reports_unreachable
def discover_lldp(ctx: click.Context, files: tuple[str, ...], hosts: tuple[str, ...],
                  snmp_hosts: tuple[str, ...], community: str, snmp_port: int, local: bool,
                  socket: str | None, timeout: float, as_json: bool,
                  report_path: Path | None) -> None:
    """LLDP neighbours: saved lldpcli JSON, the local lldpd, or LLDP-MIB over SNMP."""
    from topology.discovery.lldp import LldpConnector

    connector = LldpConnector(files=files, hosts=hosts, snmp=snmp_hosts, community=community,
                              snmp_port=snmp_port, local=local, socket=socket,
                              timeout=timeout)
    _run(ctx, connector, as_json, report_path)


@discover.command("netbox")
@click.argument("url")
@click.option("--token", envvar="NETBOX_TOKEN", help="API token (env NETBOX_TOKEN).")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds for each page, whole.")
@click.option("--page-size", default=500, show_default=True, type=click.IntRange(1, 1000))
@click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate.")
@click.option("--no-virtual-machines", "no_vms", is_flag=True,
              help="Do not read /api/virtualization/virtual-machines/ (a token that may "
                   "not read them).")
@report_options
@click.pass_context
@reports_bad_input
@reports_unreachable
def discover_netbox(ctx: click.Context, url: str, token: str | None, timeout: float,
                    page_size: int, insecure: bool, no_vms: bool, as_json: bool,
                    report_path: Path | None) -> None:
    """Devices, interfaces, cables and virtual machines from NetBox's REST API at URL."""
    from topology.discovery.netbox import NetboxConnector

    connector = NetboxConnector(url, token=token, timeout=timeout, page_size=page_size,
                                verify=not insecure, virtual_machines=not no_vms)
    _run(ctx, connector, as_json, report_path)


@discover.command("kubernetes")
@click.option("--from-file", "files", multiple=True, type=click.Path(dir_okay=False),
              help="Saved `kubectl get nodes,pods,services,deployments -A -o json` output.")
@click.option("--api", help="API server URL, e.g. https://k8s.example:6443.")
@click.option("--token", envvar="AIOPS_K8S_TOKEN", help="Bearer token (env AIOPS_K8S_TOKEN).")
@click.option("--token-file", type=click.Path(dir_okay=False), help="File holding the token.")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA bundle of the API server.")
@click.option("--insecure", is_flag=True, help="Do not verify the TLS certificate.")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600))
@report_options
@click.pass_context
@reports_bad_input
@reports_unreachable
def discover_kubernetes(ctx: click.Context, files: tuple[str, ...], api: str | None,
                        token: str | None, token_file: str | None, ca_file: str | None,
                        insecure: bool, timeout: float, as_json: bool,
                        report_path: Path | None) -> None:
    """Nodes, pods, services and deployments of a Kubernetes cluster."""
    from topology.discovery.kubernetes import KubernetesConnector

    connector = KubernetesConnector(files=files, api=api, token=token, token_file=token_file,
                                    ca_file=ca_file, insecure=insecure, timeout=timeout)
    _run(ctx, connector, as_json, report_path)


@discover.command("inventory")
@click.argument("path", type=click.Path(dir_okay=False))
@report_options
@click.pass_context
@reports_bad_input
def discover_inventory(ctx: click.Context, path: str, as_json: bool,
                       report_path: Path | None) -> None:
    """A static inventory file (.yaml, .yml or .csv)."""
    from topology.discovery.inventory import InventoryConnector

    _run(ctx, InventoryConnector(path), as_json, report_path)


@discover.command("learned")
@click.option("--alerts", "alerts_path", required=True, type=click.Path(dir_okay=False),
              help="Alert history, canonical JSONL.")
@click.option("--window", default=60.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds within which two alerts count as together.")
@click.option("--min-support", default=3, show_default=True, type=click.IntRange(1))
@click.option("--min-lift", default=5.0, show_default=True, type=click.FloatRange(1))
@click.option("--min-share", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@report_options
@click.pass_context
@reports_bad_input
def discover_learned(ctx: click.Context, alerts_path: str, window: float, min_support: int,
                     min_lift: float, min_share: float, as_json: bool,
                     report_path: Path | None) -> None:
    """Suggest inferred edges between entities that alarm together far above chance."""
    from topology.discovery.learned import LearnedConnector

    connector = LearnedConnector(alerts_path, window=window, min_support=min_support,
                                 min_lift=min_lift, min_share=min_share)
    _run(ctx, connector, as_json, report_path)


@topology.command("schedule")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Discovery schedule file (docs/topology-discovery.md).")
@click.option("--once", is_flag=True, help="Run every entry once, then exit.")
@click.pass_context
@reports_bad_input
def topology_schedule(ctx: click.Context, config_path: str, once: bool) -> None:
    """Run the discovery schedule in this process (the embedded default, no broker)."""
    from aiops.tasks import run_schedule_inline
    from topology.discovery.schedule import load_schedule

    entries = load_schedule(config_path)
    data_dir = ctx.obj["data_dir"]

    def log(name: str, outcome: dict[str, Any] | str) -> None:
        text = outcome if isinstance(outcome, str) else (
            f"{outcome['nodes']} nodes, {outcome['edges']} edges, "
            f"{len(outcome['conflicts'])} conflicts")
        click.echo(f"{name}: {text}", err=True)

    failures = run_schedule_inline(entries, str(data_dir.path), data_dir.database_url or None,
                                   once=once, on_result=log)
    if once and failures:
        sys.exit(EXIT_UNREACHABLE)


# --- inspection -----------------------------------------------------------------------

@topology.command("export")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (atomically) instead of stdout.")
@click.option("--in-use", is_flag=True,
              help="Only what current alerts are analysed against: leave out items aged "
                   "out after topology_max_age (default: everything stored).")
@click.pass_context
def topology_export(ctx: click.Context, output: Path | None, in_use: bool) -> None:
    """The whole topology as a canonical JSON document (CONTRACTS.md §2)."""
    runtime = runtime_of(ctx)
    graph = runtime.current_topology() if in_use else runtime.topology_store.load()
    doc = export_document(graph)
    if output is None:
        click.echo(json.dumps(doc, indent=1, sort_keys=True))
        return
    from aiops.replay import write_json_atomically

    write_json_atomically(output, doc)
    click.echo(f"exported {len(doc['nodes'])} nodes and {len(doc['edges'])} edges to {output}",
               err=True)


def export_document(graph: Any) -> dict[str, Any]:
    """Nodes and edges sorted by id, so two exports of one topology are identical files."""
    nodes = [graph.nodes[n].to_dict() for n in sorted(graph.nodes)]
    edges = sorted((e.to_dict() for e in graph.edges),
                   key=lambda e: (e["source"], e["target"], e["kind"]))
    return {"nodes": nodes, "edges": edges}


@topology.command("show")
@click.argument("node")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
@reports_bad_input
def topology_show(ctx: click.Context, node: str, as_json: bool) -> None:
    """A node (by id, name, alias, address or device:ifname), its aliases and neighbours.

    Stale items are shown too, marked "aged out": stored, but no longer used for current
    alerts because their source stopped reporting them (topology_max_age)."""
    from aiops.errors import NotFound

    runtime = runtime_of(ctx)
    history = runtime.topology_store.history()
    graph = history.everything()
    in_use = runtime.current_topology()
    node_id = graph.resolver.lookup(node)
    if node_id is None:
        raise NotFound(f"no topology node matches '{node}' (by id, name, alias, address "
                       "or device:ifname)")
    found = graph.nodes[node_id]
    edges_seen = {edge.key: seen for edge, seen in history.edges}
    neighbours = []
    for other in sorted(graph.neighbours(node_id)):
        used = {e.key for e in in_use.relations(node_id, other)}
        for edge in sorted(graph.relations(node_id, other), key=lambda e: e.key):
            seen = edges_seen.get(edge.key)
            neighbours.append({"id": other, "kind": graph.nodes[other].kind,
                               "name": graph.nodes[other].name, "edge": edge.kind,
                               "direction": _direction(edge, node_id),
                               "inferred": bool(edge.attrs.get("inferred")),
                               "confidence": edge.attrs.get("confidence"),
                               "in_use": edge.key in used,
                               "last_seen": seen.last if seen else None,
                               "source": seen.source if seen else None})
    node_seen = next((seen for n, seen in history.nodes if n.id == node_id), None)
    if as_json:
        click.echo(json.dumps({"node": found.to_dict(), "aliases": found.aliases(),
                               "in_use": node_id in in_use,
                               "last_seen": node_seen.last if node_seen else None,
                               "neighbours": neighbours}, indent=1))
        return
    stale = "" if node_id in in_use else f"  [aged out: {_last_seen(node_seen)}]"
    click.echo(f"{found.id}  ({found.kind})  {found.name}{stale}")
    click.echo(f"aliases: {', '.join(found.aliases()) or '-'}")
    seen_by = found.attrs.get("seen_by")
    if seen_by:
        click.echo(f"seen by: {', '.join(seen_by)}")
    click.echo(f"neighbours ({len({n['id'] for n in neighbours})}):")
    for n in neighbours:
        mark = f"  [inferred, confidence {n['confidence']}]" if n["inferred"] else ""
        if not n["in_use"]:
            mark += f"  [aged out: last seen {to_rfc3339(n['last_seen'])} by {n['source']}]"
        click.echo(f"  {n['direction']:<14} {n['id']}  ({n['kind']}){mark}")


def _last_seen(seen: Any) -> str:
    return "-" if seen is None else f"last seen {to_rfc3339(seen.last)} by {seen.source}"


def _direction(edge: Any, node_id: str) -> str:
    """``part_of ->`` when this node points at the other, ``<- part_of`` the reverse."""
    from topology.model import DIRECTED_EDGE_KINDS

    if edge.kind not in DIRECTED_EDGE_KINDS:
        return str(edge.kind)
    return f"{edge.kind} ->" if edge.source == node_id else f"<- {edge.kind}"


@topology.command("conflicts")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--node", help="Only conflicts about this node id.")
@click.option("--source", help="Only conflicts found by this discovery source.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (as GET /api/v1/topology/conflicts).")
@click.pass_context
def topology_conflicts(ctx: click.Context, limit: int, node: str | None, source: str | None,
                       as_json: bool) -> None:
    """Identity conflicts that discovery runs reported, most recently reported first."""
    from topology.conflicts import ConflictLog

    total, items = ConflictLog(runtime_of(ctx).db).list(limit, node=node, source=source)
    if as_json:
        click.echo(json.dumps({"count": total, "conflicts": items}, indent=1))
        return
    click.echo(f"{total} conflicts" + (f" (latest {len(items)} shown)"
                                       if total > len(items) else ""))
    for c in items:
        times = "" if c["reports"] == 1 else \
            f", {c['reports']} runs since {c['first_reported']}"
        click.echo(f"  {c['last_reported']}  {c['what']:<9} {c['node']}  "
                   f"({c['source']}{times}): {c['message']}")


@main.group()
def alerts() -> None:
    """Alerts the topology could not place."""


@alerts.command("unresolved")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /alerts/unresolved).")
@click.pass_context
def alerts_unresolved(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Alerts whose entity matched no topology node: kept, counted and listed here."""
    from aiops.store.queries import unresolved_alerts

    with runtime_of(ctx).db.connect() as conn:
        total, items = unresolved_alerts(conn, limit)
    if as_json:
        click.echo(json.dumps({"count": total, "alerts": items}, indent=1))
        return
    click.echo(f"{total} unresolved alerts" + (f" (newest {len(items)} shown)"
                                               if total > len(items) else ""))
    for a in items:
        click.echo(f"  {a['starts_at']}  {a['name']:<20} {a['entity']}  ({a['source']})")
