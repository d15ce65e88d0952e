"""Outbound incident delivery from the settings: which receivers, the outbox sink the
engine publishes to, and the delivery loop ``aiops serve`` runs (docs/sinks.md)."""

from __future__ import annotations

from typing import Any

from aiops.config import SinkSettings
from aiops.sinks.delivery import DeliveryLoop, DeliverySettings
from aiops.sinks.http import Target, read_secret_file
from aiops.sinks.jira import JiraTarget
from aiops.sinks.outbox import OutboxSink
from aiops.sinks.rt import RequestTrackerTarget
from aiops.sinks.servicenow import ServiceNowTarget, read_create_fields
from aiops.sinks.webhook import WebhookTarget, webhook_name


def sink_names(settings: SinkSettings) -> list[str]:
    """The outbox names of the configured receivers (no secrets read)."""
    names = [webhook_name(url) for url in settings.webhook_list()]
    if settings.servicenow_url:
        names.append(ServiceNowTarget.name)
    if settings.rt_url:
        names.append(RequestTrackerTarget.name)
    if settings.jira_url:
        names.append(JiraTarget.name)
    return names


def build_targets(settings: SinkSettings) -> list[Target]:
    """The receivers, with their secrets read; ValueError names an unreadable file."""
    token = read_secret_file(settings.webhook_token_file, "AIOPS_SINK_WEBHOOK_TOKEN_FILE") \
        if settings.webhook_token_file else None
    secret = read_secret_file(settings.webhook_signing_secret_file,
                              "AIOPS_SINK_WEBHOOK_SIGNING_SECRET_FILE") \
        if settings.webhook_signing_secret_file else None
    targets: list[Target] = [WebhookTarget(url, token, settings.timeout,
                                           secret.encode("utf-8") if secret else None)
                             for url in settings.webhook_list()]
    if settings.servicenow_url:
        password = read_secret_file(settings.servicenow_password_file,
                                    "AIOPS_SINK_SERVICENOW_PASSWORD_FILE")
        fields = read_create_fields(settings.servicenow_fields_file) \
            if settings.servicenow_fields_file else {}
        targets.append(ServiceNowTarget(settings.servicenow_url, settings.servicenow_user,
                                        password, settings.timeout,
                                        settings.servicenow_close_code, fields))
    if settings.rt_url:
        if settings.rt_token_file:
            token = read_secret_file(settings.rt_token_file, "AIOPS_SINK_RT_TOKEN_FILE")
            targets.append(RequestTrackerTarget(settings.rt_url, settings.rt_queue,
                                                token=token, timeout=settings.timeout))
        else:
            password = read_secret_file(settings.rt_password_file,
                                        "AIOPS_SINK_RT_PASSWORD_FILE")
            targets.append(RequestTrackerTarget(settings.rt_url, settings.rt_queue,
                                                user=settings.rt_user, password=password,
                                                timeout=settings.timeout))
    if settings.jira_url:
        targets.append(JiraTarget(
            settings.jira_url, settings.jira_project.strip(),
            token=read_secret_file(settings.jira_token_file, "AIOPS_SINK_JIRA_TOKEN_FILE"),
            user=settings.jira_user, issue_type=settings.jira_issue_type,
            api_version=settings.jira_api_version,
            priorities=settings.jira_priority_names(),
            resolve_transition=settings.jira_resolve_transition,
            reopen_transition=settings.jira_reopen_transition,
            resolution=settings.jira_resolution, timeout=settings.timeout))
    return targets


def outbox_sink(runtime: Any) -> OutboxSink | None:
    """The engine sink queuing changed incidents, when any receiver is configured."""
    settings: SinkSettings = runtime.data_dir.sinks
    if not settings.configured:
        return None
    return OutboxSink(runtime.db, sink_names(settings), settings.min_interval)


def delivery_loop(runtime: Any, public_url: str) -> DeliveryLoop | None:
    """The loop that drains the outbox of ``runtime``, woken by its outbox sink; None
    when no receiver is configured."""
    from aiops.tickets.recommend import recommender

    settings: SinkSettings = runtime.data_dir.sinks
    if not settings.configured:
        return None

    def remediations(conn: Any, incident: dict[str, Any]) -> list[dict[str, Any]]:
        chosen = recommender(runtime)
        return chosen.for_incident(incident, runtime.engine.topology) if chosen else []

    loop = DeliveryLoop(runtime.db, build_targets(settings), DeliverySettings(
        public_url=settings.public_url or public_url, min_interval=settings.min_interval,
        backoff_max=settings.backoff_max, timeout=settings.timeout,
        retention=settings.retention), remediations)
    for sink in runtime.engine.sinks:
        if isinstance(sink, OutboxSink):
            sink.wake = loop.wake
    return loop


def start_delivery(runtime: Any, public_url: str) -> DeliveryLoop | None:
    """Start draining the outbox in a background thread (``aiops serve`` and the WSGI
    app); stopped when the runtime closes."""
    loop = delivery_loop(runtime, public_url)
    if loop is not None:
        loop.start()
        runtime.delivery = loop
    return loop
