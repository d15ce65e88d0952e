"""``aiops syslog listen|check|try``: network devices' syslog as alerts.

``listen`` runs beside ``aiops serve`` (or in front of a remote one) and forwards what
the rules make of the messages to its ``/api/v1/webhooks/syslog``; ``try`` shows what
a file of saved lines would become, which is how a rule is written.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from aiops.cli_base import check_files, main, reports_bad_input
from aiops.cli_follow import FORWARD, STATS_EVERY, engine_forwarder, stopped_line
from aiops.errors import InputError

if TYPE_CHECKING:  # ssl is imported where TLS is used: the CLI starts without it
    from aiops.syslog_listener import TlsEndpoint


def _rules_dir(ctx: click.Context, given: Path | None) -> Path:
    return given or ctx.obj["data_dir"].path / "syslog"


def address(text: str | None, option: str) -> tuple[str, int] | None:
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"{option} must be HOST:PORT (port 0-65535), got {text!r}")
    return host.strip("[]"), int(port)


@main.group()
def syslog() -> None:
    """Syslog from network devices: listen and forward, check rules, try lines."""


RULES = click.option("--rules-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None, help="Folder of rule files (default: DATA_DIR/syslog).")


@syslog.command("listen")
@click.option("--udp", default=None, help="HOST:PORT to receive UDP syslog on (e.g. 0.0.0.0:514).")
@click.option("--tcp", default=None, help="HOST:PORT to receive TCP syslog on.")
@click.option("--tls", default=None,
              help="HOST:PORT to receive syslog over TLS on (RFC 5425, e.g. 0.0.0.0:6514).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM certificate (and chain) the TLS listener presents.")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="PEM private key of --tls-cert (if not in the same file).")
@click.option("--tls-client-ca", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="PEM CA certificates: senders must present a certificate "
                                 "one of them signed (mutual TLS).")
@click.option("--tls-permitted-peer", multiple=True, metavar="PATTERN",
              help="Accept only client certificates with a DNS name (else common name) "
                   "matching PATTERN (*.example.net: one label); repeatable. Needs "
                   "--tls-client-ca.")
@click.option("--tls-bind-hostname", is_flag=True, default=False,
              help="Drop (count, log) a message whose host its TLS certificate does not "
                   "name. Needs --tls-client-ca.")
@click.option("--tls-relay-peer", multiple=True, metavar="PATTERN",
              help="With --tls-bind-hostname: certificates matching PATTERN (relays) may "
                   "send for any host; they are permitted peers too. Repeatable.")
@click.option("--tls-crl", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PEM certificate revocation list(s) of the --tls-client-ca CAs: a revoked "
                   "client certificate is refused. Re-read when the file changes. Repeatable.")
@click.option("--tls-ocsp", type=click.Choice(["require", "prefer"]), default=None,
              help="Ask each client certificate's OCSP responder after the handshake: a "
                   "revoked one is refused; with no trustworthy answer 'require' refuses "
                   "and 'prefer' admits with a warning. Needs --tls-client-ca.")
@click.option("--tls-ocsp-url", default=None, metavar="URL",
              help="With --tls-ocsp: ask this responder instead of the one the "
                   "certificate names (Authority Information Access).")
@FORWARD
@RULES
@STATS_EVERY
@click.pass_context
@reports_bad_input
def syslog_listen(ctx: click.Context, udp: str | None, tcp: str | None, tls: str | None,
                  tls_cert: Path | None, tls_key: Path | None, tls_client_ca: Path | None,
                  tls_permitted_peer: tuple[str, ...], tls_bind_hostname: bool,
                  tls_relay_peer: tuple[str, ...], tls_crl: tuple[Path, ...],
                  tls_ocsp: str | None, tls_ocsp_url: str | None, forward: str,
                  rules_dir: Path | None, stats_every: float) -> None:
    """Receive syslog and forward the alert events its rules make to an engine."""
    from aiops.syslog_listener import SyslogHandler
    from connectors.syslog_rules import load_rules

    if udp is None and tcp is None and tls is None:
        raise InputError("give --udp HOST:PORT, --tcp HOST:PORT, --tls HOST:PORT or several")
    secure = _tls_endpoint(tls, tls_cert, tls_key, tls_client_ca,
                           _TlsPeers(tls_permitted_peer, tls_relay_peer, tls_bind_hostname,
                                     tls_crl, tls_ocsp, tls_ocsp_url))
    forwarder = engine_forwarder(forward, "syslog")
    rules, errors = load_rules(_rules_dir(ctx, rules_dir))
    for error in errors:
        click.echo(f"aiops: refused rule file: {error}", err=True)
    handler = SyslogHandler(rules, forwarder)
    serve_listener("syslog", handler, len(rules.rules), address(udp, "--udp"),
                   address(tcp, "--tcp"), stats_every, secure)


class _TlsPeers(NamedTuple):
    """The options that judge client certificates (they all need --tls-client-ca)."""

    permitted: tuple[str, ...]
    relays: tuple[str, ...]
    bind_hostname: bool
    crls: tuple[Path, ...]
    ocsp: str | None = None
    ocsp_url: str | None = None

    def given(self) -> list[str]:
        return [name for name, value in (
            ("--tls-permitted-peer", self.permitted), ("--tls-bind-hostname", self.bind_hostname),
            ("--tls-relay-peer", self.relays), ("--tls-crl", self.crls),
            ("--tls-ocsp", self.ocsp), ("--tls-ocsp-url", self.ocsp_url)) if value]


def _tls_endpoint(tls: str | None, cert: Path | None, key: Path | None,
                  client_ca: Path | None, peers: _TlsPeers) -> TlsEndpoint | None:
    """``--tls`` and its files, all checked before anything listens."""
    from aiops.syslog_tls import tls_gate
    from aiops.syslog_tls_peers import PeerPolicy

    if tls is None:
        given = [name for name, value in (("--tls-cert", cert), ("--tls-key", key),
                                          ("--tls-client-ca", client_ca)) if value]
        given += peers.given()
        if given:
            raise InputError(f"{', '.join(given)} given without --tls HOST:PORT")
        return None
    where = address(tls, "--tls")
    if cert is None:
        raise InputError("--tls needs --tls-cert (the listener's PEM certificate)")
    if client_ca is None and peers.given():
        raise InputError(f"{', '.join(peers.given())} needs --tls-client-ca: only a client "
                         "certificate has names to check and can be revoked")
    if peers.relays and not peers.bind_hostname:
        raise InputError("--tls-relay-peer needs --tls-bind-hostname: without it every "
                         "certificate may send for any host")
    if peers.ocsp_url is not None and peers.ocsp is None:
        raise InputError("--tls-ocsp-url needs --tls-ocsp require|prefer")
    policy = None
    if peers.permitted or peers.bind_hostname:
        policy = PeerPolicy(peers.permitted, peers.relays, peers.bind_hostname)
    ocsp = (peers.ocsp, peers.ocsp_url) if peers.ocsp else None
    return where, tls_gate(cert, key, client_ca, peers.crls, policy, ocsp)


def serve_listener(what: str, handler: Any, rules: int, udp: tuple[str, int] | None,
                   tcp: tuple[str, int] | None, stats_every: float,
                   tls: TlsEndpoint | None = None) -> None:
    """Listen until SIGTERM or Ctrl-C with progress lines on stderr, then send what is
    held (``aiops syslog listen``, ``aiops traps listen``)."""
    from aiops.syslog_listener import SyslogListener

    forwarder = handler.forwarder
    try:
        listener = SyslogListener(handler, udp, tcp, tls)
    except OSError as exc:
        raise InputError(f"cannot listen: {exc.strerror or exc}") from None
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    listener.start()
    click.echo(f"listening on {', '.join(listener.addresses())} with {rules} rules; "
               f"forwarding to {forwarder.url}", err=True)
    last = time.monotonic()
    while not stopping.wait(0.5):
        if stats_every and time.monotonic() - last >= stats_every:
            last = time.monotonic()
            stats = handler.stats
            refused = f", {stats.refused} of other communities" if stats.refused else ""
            if stats.tls_refused:
                refused += f", {stats.tls_refused} TLS connections refused"
            if stats.tls_unbound:
                refused += (f", {stats.tls_unbound} for a host their TLS certificate "
                            "does not name")
            if stats.v3_refused:
                refused += f", {stats.v3_refused} SNMPv3 refused (see the log)"
            click.echo(f"{what}: {stats.messages} messages, {stats.matched} matched a rule, "
                       f"{stats.unreadable} not {what}{refused}; {forwarder.progress()}",
                       err=True)
    listener.stop()
    click.echo(stopped_line(what, forwarder), err=True)


@syslog.command("check")
@RULES
@click.pass_context
def syslog_check(ctx: click.Context, rules_dir: Path | None) -> None:
    """Exit 2 naming every refused rule file."""
    from connectors.syslog_rules import load_rules

    rules, errors = load_rules(_rules_dir(ctx, rules_dir))
    check_files("rules", len(rules.rules), errors, _rules_dir(ctx, rules_dir))


@syslog.command("try")
@click.argument("lines", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@RULES
@click.option("--peer", default="127.0.0.1", show_default=True,
              help="The sender's address, the host of a message that names none.")
@click.pass_context
@reports_bad_input
def syslog_try(ctx: click.Context, lines: Path, rules_dir: Path | None, peer: str) -> None:
    """Print the event each line of LINES (one syslog message per line) would make."""
    from connectors.syslog import parse_syslog
    from connectors.syslog_rules import load_rules

    rules, errors = load_rules(_rules_dir(ctx, rules_dir))
    if errors:
        raise InputError(errors[0])
    for number, raw in enumerate(lines.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            message = parse_syslog(raw, peer, time.time())
        except ValueError as exc:
            click.echo(f"{lines.name}:{number}: {exc}")
            continue
        event = rules.event(message)
        click.echo(f"{lines.name}:{number}: "
                   + (json.dumps(event) if event else f"no rule (host {message.host})"))
