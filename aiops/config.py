"""Settings of the engine and of a data dir, with defaults that work out of the box."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from aiops.models import SEVERITY_RANK

DEFAULT_DATA_DIR = "aiops-data"
CLOCK_AHEAD_RULE = "AIOPS_MAX_CLOCK_AHEAD must be seconds (0 or more) or off"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables of deduplication and the first correlator, all in seconds or hops."""

    correlation_window: float = 120.0  # an incident takes alerts this close to its last one
    max_hops: int = 2  # topology distance within which alerts may share an incident
    max_incident_span: float = 300.0  # seconds after its first alert an incident takes new ones
    # An incident links at full strength for this many seconds after its first alert,
    # then ever more weakly until ``incident_fade`` (and not at all after it): most of a
    # cascade's alarms arrive within a minute of its first, while an alarm that joins an
    # older incident nearby is more often the start of another fault.
    incident_prime: float = 60.0
    incident_fade: float = 180.0
    # One alert merges two incidents only if their first alerts are at most this far
    # apart: pieces of one cascade start together, overlapping faults one after another.
    merge_onset_gap: float = 40.0
    # ...and only if the smaller of the two holds fewer than this many alerts: a piece
    # split off a cascade is small, while two established incidents that one alert
    # happens to link are mostly two faults (docs/architecture.md); 0: no limit.
    merge_piece_limit: int = 9
    # For this many seconds after an incident's first alert, a member two hops away
    # links as 0.65 instead of 0.5 (enough to join at once): a cascade fans out first,
    # and another fault starting two hops away within seconds is rare. 0: never.
    fan_out: float = 30.0
    # An incident that settled (no alert for the correlation horizon) is split in two
    # when two faults around two devices explain its alarms' places better than one by
    # more than this log-likelihood (``aiops.engine.hindsight``; docs/architecture.md,
    # "Hindsight split"); 0: never.
    hindsight_split_gain: float = 25.0
    # An incident of at most three alerts that settled is merged into the incident
    # holding more than this share of its alarms' parent posterior under the trained
    # model's Hawkes parents (and more than it holds itself; ``aiops.engine.absorb``;
    # docs/architecture.md, "Most likely parent alarm"); 0: never. Without a trained
    # model (or one saved before parents were learned) nothing is absorbed.
    parent_absorb_share: float = 0.4
    skew_tolerance: float = 15.0  # seconds of clock skew / reporting delay forgiven
    # Compare alert texts with the MiniLM sentence model. Env AIOPS_TEXT_SIMILARITY=off.
    text_similarity: bool = True
    # With no trained model, correlate at the pace the alerts themselves show
    # (``aiops.engine.pace``); off: at the reference pace until a model is trained.
    live_time_scale: bool = True
    # Rank root causes with the ranking learned from resolved tickets once one is
    # promoted (``aiops.learning.learned_rank``); off: the hand-weighted order.
    # Env AIOPS_LEARNED_RANKING=off.
    learned_ranking: bool = True
    refire_window: float = 600.0  # a re-fire sooner than this after resolve reopens the alert
    flap_window: float = 900.0
    flap_threshold: int = 4  # state changes within flap_window that mark an alert flapping
    # A still-firing condition whose last two gaps between reported starts agree (each
    # at most this many seconds) is one sender repeating it on a beat, not restarting:
    # its next start folds into its alert (``aiops.engine.beat``; docs/architecture.md,
    # "Deduplication and lifecycle"). 0: off. Env AIOPS_STEADY_BEAT_MAX_GAP.
    steady_beat_max_gap: float = 3600.0
    # Labels that change between events of one condition and so must not split it:
    # also an operator's acknowledgement, maintenance, downtime or silence
    # or its monitor's word that it flaps (``aiops.engine.alert_status``).
    volatile_labels: tuple[str, ...] = ("severity", "value", "acknowledged",
                                       "acknowledged_by", "suppressed", "suppressed_by",
                                       "flapping")
    # Seconds after which a topology item that its source has stopped reporting (while
    # reporting other things) is no longer used; 0 or None: never. Env
    # AIOPS_TOPOLOGY_MAX_AGE. Stores keep such items (docs/topology.md, "History").
    topology_max_age: float | None = 7 * 86400.0
    # Seconds after its arrival that a live alert (the HTTP API, ``aiops pull``) may be
    # stamped: nothing sent now began or ended later, so a time further ahead comes
    # from a wrong clock and is taken as the arrival time, lest it carry the engine's
    # clock into the future (docs/architecture.md, "The engine's clock"). Up to 60 s
    # changes no grouping at the defaults; 30 s leaves devices without NTP (the ±20 s
    # that learned clock offsets correct) their own times. None: no bound, for a lab
    # that feeds simulated time through the API. Env AIOPS_MAX_CLOCK_AHEAD (or off).
    max_clock_ahead: float | None = 30.0

    def __post_init__(self) -> None:
        ahead = self.max_clock_ahead
        if ahead is not None and not 0 <= ahead < math.inf:
            raise ValueError(f"{CLOCK_AHEAD_RULE}, got {ahead!r}")
        if not 0 <= self.steady_beat_max_gap < math.inf:
            raise ValueError("steady_beat_max_gap must be seconds (0: off), "
                             f"got {self.steady_beat_max_gap!r}")


_SWITCH = {"1": True, "on": True, "true": True, "yes": True,
           "0": False, "off": False, "false": False, "no": False}


def _switch(name: str, text: str) -> bool:
    """An on/off setting; anything else is refused by name (``bool("off")`` is True)."""
    value = _SWITCH.get(text.strip().lower())
    if value is None:
        raise ValueError(f"{name} must be on or off, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"AIOPS_TOPOLOGY_MAX_AGE must be seconds (0: never), got {text!r}")
    return value


def _beat_gap(text: str) -> float:
    """AIOPS_STEADY_BEAT_MAX_GAP: seconds, 0 (off) or more, refused as typed."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise ValueError("AIOPS_STEADY_BEAT_MAX_GAP must be seconds (0: off), "
                         f"got {text!r}")
    return value


def _clock_ahead(text: str) -> float | None:
    """AIOPS_MAX_CLOCK_AHEAD: ``off`` (no bound) or seconds, refused as typed."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise ValueError(f"{CLOCK_AHEAD_RULE}, got {text!r}")
    return value


MIN_KEEP = 86400.0  # RetentionSettings.keep, when on


def _check_ranges(settings: Any, prefix: str,
                  ranges: dict[str, tuple[float, float, bool]]) -> None:
    """Refuse a field outside its range, naming its environment setting: ``ranges``
    maps a field to (low, high, low_included). A value that makes a policy contradict
    itself (a shadow window of no time, an agreement threshold above 1, a quantile of
    2) otherwise ran and either crashed deep inside or decided on nothing."""
    for name, (low, high, low_included) in ranges.items():
        value = getattr(settings, name)
        above = value >= low if low_included else value > low
        if not (above and value <= high and math.isfinite(value)):  # NaN fails too
            bound = f"a number at least {low:g}" if low_included else f"a number above {low:g}"
            upper = "" if high == math.inf else f" and at most {high:g}"
            raise ValueError(f"{prefix}{name.upper()} must be {bound}{upper}, got {value!r}")


@dataclass(frozen=True, slots=True)
class DriftSettings:
    """When the promoted correlation model counts as drifting (aiops/learning/drift.py).

    Each threshold is one reason on its own; env ``AIOPS_DRIFT_<FIELD>`` overrides
    it (``AIOPS_DRIFT_MAX_DIVERGENCE=0.2``).
    """

    window: float = 86400.0  # seconds of the most recent alerts looked at (event time)
    min_alerts: int = 50  # fewer alerts than this in the window: too few to judge
    # Share of the window's alerts whose type the model never saw: its relations and
    # ranking know nothing about them.
    max_unseen_share: float = 0.05
    # Jensen-Shannon divergence (base 2, 0..1) of alert type frequencies, training vs
    # window; it must also exceed what chance gives at the sample size (next field).
    max_divergence: float = 0.1
    chance_quantile: float = 0.99
    # Unresolved entities: rise over the training period's share, or (training period
    # not stored) the share itself.
    max_unresolved_increase: float = 0.1
    max_unresolved_share: float = 0.25
    max_noise_reduction_drop: float = 0.15  # 1 - incidents/alerts, training minus window
    max_corrected_share: float = 0.1  # incidents of the window operators merged or split
    # The time scale the window's alerts call for (aiops/learning/timescale.py) over the
    # model's, or the reverse: cascades now unfold at another pace than in training.
    max_time_scale_change: float = 1.5
    # A running engine checks the promoted model this often (wall-clock seconds, looked
    # at on ingest requests) and raises/resolves the alert AIOPS_MODEL_DRIFT; 0: never.
    check_every: float = 3600.0

    def __post_init__(self) -> None:
        _check_ranges(self, "AIOPS_DRIFT_", {
            "window": (0.0, math.inf, False), "min_alerts": (1, math.inf, True),
            "max_unseen_share": (0.0, 1.0, True), "max_divergence": (0.0, 1.0, True),
            "chance_quantile": (0.0, 1.0, True),
            "max_unresolved_increase": (0.0, 1.0, True),
            "max_unresolved_share": (0.0, 1.0, True),
            "max_noise_reduction_drop": (0.0, 1.0, True),
            "max_corrected_share": (0.0, 1.0, True),
            "max_time_scale_change": (1.0, math.inf, True),
            "check_every": (0.0, math.inf, True)})


@dataclass(frozen=True, slots=True)
class RetrainSettings:
    """Scheduled retraining of the correlation model (aiops/learning/retrain.py).

    Env ``AIOPS_RETRAIN_<FIELD>`` overrides a field (``AIOPS_RETRAIN_SCHEDULE="0 3 * * *"``).
    """

    days: float = 7.0  # train on the stored alerts of the last N days
    promote: str = "auto"  # auto (the policy in retrain.py), never, always
    # Celery beat / `aiops model schedule`: a duration ("1d") or a 5-field cron; empty: off.
    schedule: str = ""
    shadow_window: float = 86400.0  # the most recent stretch the candidate is tried on
    min_alerts: int = 100  # fewer stored alerts in the training period: refuse to train
    # Pairwise F1 with the stored grouping of the shadow window under which "auto" leaves
    # the decision to an operator: the candidate would regroup most of it differently.
    min_stored_agreement: float = 0.5
    weak_labels: str = "near"  # as `aiops train --weak-labels`
    fit_seconds: float = 300.0  # as `aiops train --fit-seconds`

    def __post_init__(self) -> None:
        _check_ranges(self, "AIOPS_RETRAIN_", {
            "days": (0.0, math.inf, False), "shadow_window": (0.0, math.inf, False),
            "min_alerts": (1, math.inf, True), "min_stored_agreement": (0.0, 1.0, True),
            "fit_seconds": (1.0, 86_400.0, True)})


MAX_PLAYBOOK_WAIT = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class PlaybookSettings:
    """When a playbook run that nothing finished is given up (docs/playbooks.md).

    Env ``AIOPS_PLAYBOOK_<FIELD>`` overrides a field (``AIOPS_PLAYBOOK_START_WITHIN=120``).
    """

    # A queued run that no worker started this many seconds after the request is not
    # started any more: a remediation that late may act on an incident that moved on.
    # Recorded with each run (``start_by``), so every worker honours the same limit.
    start_within: float = 600.0
    # A running run with no outcome this long after its steps' timeouts add up is
    # taken as abandoned: the process running it stopped.
    grace: float = 60.0
    # How often ``aiops serve`` looks for incidents a playbook's ``auto`` policy fits
    # (aiops/playbooks/auto.py); 0: never, whatever the playbook files say.
    auto_every: float = 15.0

    def __post_init__(self) -> None:
        for name in ("start_within", "grace"):
            if not 0 < getattr(self, name) <= MAX_PLAYBOOK_WAIT:
                raise ValueError(f"AIOPS_PLAYBOOK_{name.upper()} must be seconds above 0 and "
                                 f"at most {MAX_PLAYBOOK_WAIT:g} (a week), got "
                                 f"{getattr(self, name)!r}")
        if not 0 <= self.auto_every <= 86_400:
            raise ValueError("AIOPS_PLAYBOOK_AUTO_EVERY must be seconds from 0 (off) to "
                             f"86400, got {self.auto_every!r}")


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    """Pruning of the store by ``aiops serve`` itself (``aiops.retention``, the
    same deletion as ``aiops prune``; docs/architecture.md, "Retention").

    Env ``AIOPS_RETENTION_<FIELD>`` overrides a field (``AIOPS_RETENTION_KEEP=7776000``
    keeps 90 days).
    """

    # Seconds of history kept: what ended longer ago is deleted; 0 (the default): the
    # serving process deletes nothing, and history is kept until ``aiops prune``.
    keep: float = 0.0
    every: float = 3600.0  # seconds between two prunes (the first an ``every`` after start)
    # 1: a keep shorter than what retraining or the drift check reads is the operator's
    # choice (aiops/retention_guard.py); 0 (default): refused at start, and each round's
    # cutoff stops before their window.
    allow_short_history: int = 0
    # Seconds the audit trails are kept (operator feedback, finished playbook runs,
    # resolved tickets: aiops/retention_audit.py); 0 (default): for ever.
    audit_keep: float = 0.0

    def __post_init__(self) -> None:
        _check_ranges(self, "AIOPS_RETENTION_", {"keep": (0.0, math.inf, True),
                                                 "every": (60.0, 7 * 86400.0, True),
                                                 "allow_short_history": (0, 1, True),
                                                 "audit_keep": (0.0, math.inf, True)})
        for name, why in (("keep", "what a restart reads back stays anyway"),
                          ("audit_keep", "a record that young is still being looked at")):
            value = getattr(self, name)
            if 0 < value < MIN_KEEP:
                raise ValueError(f"AIOPS_RETENTION_{name.upper()} must be 0 (off) or at least "
                                 f"{MIN_KEEP:g} seconds (a day: {why}), got {value!r}")


@dataclass(frozen=True, slots=True)
class SinkSettings:
    """Where incidents are pushed (docs/sinks.md) and how hard the outbox tries.

    Env ``AIOPS_SINK_<FIELD>`` overrides a field (``AIOPS_SINK_WEBHOOK_URLS=https://a,
    https://b``). Secrets are read from the files named here, never from the value of
    a setting that ``ps`` or a unit file shows.
    """

    # Comma-separated URLs, each POSTed a JSON document per incident change.
    webhook_urls: str = ""
    # A file whose content is sent as ``Authorization: Bearer ...`` to the webhooks.
    webhook_token_file: str = ""
    # A file whose content keys the HMAC-SHA256 signature of every webhook request
    # (``X-Aiops-Signature``, aiops/sinks/webhook.py); empty: not signed.
    webhook_signing_secret_file: str = ""
    # A ServiceNow instance (``https://example.service-now.com``); empty: none.
    servicenow_url: str = ""
    servicenow_user: str = ""
    servicenow_password_file: str = ""
    servicenow_close_code: str = "Solution provided"
    # A Request Tracker 5 (``https://rt.example``, REST2 beneath it); empty: none. Auth
    # by a token file (RT::Authen::Token) or a user and a password file.
    rt_url: str = ""
    rt_queue: str = "General"
    rt_user: str = ""
    rt_password_file: str = ""
    rt_token_file: str = ""
    # A Jira site (``https://example.atlassian.net`` or a Data Center URL); empty: none.
    # Auth: JIRA_USER (the account's e-mail) and an API token file on Cloud, the token
    # file alone (a personal access token, sent as Bearer) on Data Center.
    jira_url: str = ""
    jira_project: str = ""
    jira_issue_type: str = "Task"
    jira_user: str = ""
    jira_token_file: str = ""
    # Which search the site has: 3 (Cloud's /rest/api/3/search/jql), 2 (Data Center).
    jira_api_version: str = "3"
    # Priority names per severity, ``critical=Highest,major=High``; empty: none sent
    # (sites name their priorities differently, and a wrong name fails the create).
    jira_priorities: str = ""
    # Transitions by name, tried before any other into / out of a done status.
    jira_resolve_transition: str = ""
    jira_reopen_transition: str = ""
    # The resolution set with the resolving transition (a workflow's screen may ask).
    jira_resolution: str = ""
    # Where the incident view is reached from the receiver (links in what is sent);
    # empty: ``http://HOST:PORT`` of ``aiops serve``.
    public_url: str = ""
    # An incident is sent at most once per this many seconds: a storm's updates of
    # one incident collapse into its latest state. Resolving is never held back.
    min_interval: float = 30.0
    # Retries back off 1, 2, 4, ... seconds up to this (a Retry-After is honoured).
    backoff_max: float = 600.0
    timeout: float = 10.0  # seconds for one request, the whole exchange (deadline.py)
    # Outbox rows of resolved or merged incidents, delivered (or failed for good) this
    # many seconds ago, are deleted by the delivery loop (hourly); 0: kept for ever.
    retention: float = 7 * 86400.0
    # A JSON object of extra fields for a ServiceNow create (caller_id,
    # assignment_group, category, cmdb_ci: what an instance's data policies require).
    servicenow_fields_file: str = ""

    def __post_init__(self) -> None:
        _check_ranges(self, "AIOPS_SINK_", {
            "min_interval": (0.0, 86400.0, True), "backoff_max": (1.0, 86400.0, True),
            "timeout": (0.0, 600.0, False), "retention": (0.0, math.inf, True)})
        named = [("AIOPS_SINK_WEBHOOK_URLS", url) for url in self.webhook_list()] + [
            (setting, url) for setting, url in (("AIOPS_SINK_SERVICENOW_URL", self.servicenow_url),
                                                ("AIOPS_SINK_RT_URL", self.rt_url),
                                                ("AIOPS_SINK_JIRA_URL", self.jira_url)) if url]
        for setting, url in named:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{setting} takes http:// or https:// URLs, got {url!r}")
        if self.rt_url and not (self.rt_token_file
                                or (self.rt_user and self.rt_password_file)):
            raise ValueError("AIOPS_SINK_RT_URL needs AIOPS_SINK_RT_TOKEN_FILE, or "
                             "AIOPS_SINK_RT_USER and AIOPS_SINK_RT_PASSWORD_FILE")
        if self.rt_url and not self.rt_queue.strip():
            raise ValueError("AIOPS_SINK_RT_QUEUE must name a queue")
        if self.jira_url and not (self.jira_project.strip() and self.jira_token_file):
            raise ValueError("AIOPS_SINK_JIRA_URL needs AIOPS_SINK_JIRA_PROJECT and "
                             "AIOPS_SINK_JIRA_TOKEN_FILE")
        if self.jira_api_version not in ("2", "3"):
            raise ValueError("AIOPS_SINK_JIRA_API_VERSION must be 3 (Jira Cloud) or 2 "
                             f"(Data Center), got {self.jira_api_version!r}")
        self.jira_priority_names()  # a wrong value is refused before anything runs
        if self.servicenow_url and not (self.servicenow_user and self.servicenow_password_file):
            raise ValueError("AIOPS_SINK_SERVICENOW_URL needs AIOPS_SINK_SERVICENOW_USER and "
                             "AIOPS_SINK_SERVICENOW_PASSWORD_FILE")

    def jira_priority_names(self) -> dict[str, str]:
        """``AIOPS_SINK_JIRA_PRIORITIES`` as severity -> priority name."""
        names: dict[str, str] = {}
        for item in (i.strip() for i in self.jira_priorities.split(",") if i.strip()):
            severity, sep, name = (part.strip() for part in item.partition("="))
            if not sep or severity not in SEVERITY_RANK or not name:
                raise ValueError("AIOPS_SINK_JIRA_PRIORITIES takes SEVERITY=NAME pairs "
                                 f"separated by commas (severities: "
                                 f"{', '.join(SEVERITY_RANK)}), got {item!r}")
            names[severity] = name
        return names

    def webhook_list(self) -> list[str]:
        return [u.strip() for u in self.webhook_urls.split(",") if u.strip()]

    @property
    def configured(self) -> bool:
        return bool(self.webhook_list() or self.servicenow_url or self.rt_url
                    or self.jira_url)


MAX_SESSION_LIFETIME = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """Single sign-on to the incident view and its API by OpenID Connect
    (aiops/api/oidc.py; docs/contracts.md, "Single sign-on").

    Env ``AIOPS_OIDC_<FIELD>`` sets a field (``AIOPS_OIDC_ISSUER=https://id.example/
    realms/ops``). The redirect comes back to ``AIOPS_SINK_PUBLIC_URL`` + ``/auth/callback``:
    the one URL people reach the view at, already set for the links sinks send.
    """

    # The provider's issuer URL; its discovery document is at
    # ISSUER/.well-known/openid-configuration. Empty: no single sign-on.
    issuer: str = ""
    client_id: str = ""
    # A file holding the client secret (never the value of a setting ``ps`` shows).
    client_secret_file: str = ""
    # Scopes asked for at sign-in, space-separated; ``openid`` must be among them.
    scopes: str = "openid profile email"
    # Seconds a sign-in lasts before the provider is asked again.
    session_lifetime: float = 8 * 3600.0
    # The claim (of the id_token or the userinfo answer) listing the user's groups,
    # and the groups, comma-separated, that give the scope ``read``, and ``read`` with
    # ``operate`` (merging, splitting, playbooks). ``ingest`` stays with tokens.
    groups_claim: str = "groups"
    read_groups: str = ""
    operate_groups: str = ""
    # Seconds after which a signed-in session's request first has the provider asked
    # again (a refresh-token grant) whether the user is still there and in which
    # groups (aiops/api/session_recheck.py); 0: never, groups count from sign-in on.
    recheck: float = 300.0

    def __post_init__(self) -> None:
        _check_ranges(self, "AIOPS_OIDC_", {
            "session_lifetime": (60.0, MAX_SESSION_LIFETIME, True),
            "recheck": (0.0, MAX_SESSION_LIFETIME, True)})
        if not self.issuer:
            return
        if not self.issuer.startswith(("http://", "https://")):
            raise ValueError(f"AIOPS_OIDC_ISSUER takes an http:// or https:// URL, got "
                             f"{self.issuer!r}")
        if not self.client_id.strip():
            raise ValueError("AIOPS_OIDC_ISSUER needs AIOPS_OIDC_CLIENT_ID")
        if not self.client_secret_file:
            raise ValueError("AIOPS_OIDC_ISSUER needs AIOPS_OIDC_CLIENT_SECRET_FILE")
        if "openid" not in self.scopes.split():
            raise ValueError(f"AIOPS_OIDC_SCOPES must include openid, got {self.scopes!r}")
        if not self.groups_claim.strip():
            raise ValueError("AIOPS_OIDC_GROUPS_CLAIM must name a claim")
        if not (self.group_list("read") or self.group_list("operate")):
            raise ValueError("AIOPS_OIDC_ISSUER needs AIOPS_OIDC_READ_GROUPS or "
                             "AIOPS_OIDC_OPERATE_GROUPS: without them nobody signed in "
                             "may see anything")

    def group_list(self, scope: str) -> list[str]:
        """The groups that give ``scope`` (``read`` or ``operate``)."""
        text = self.read_groups if scope == "read" else self.operate_groups
        return [g.strip() for g in text.split(",") if g.strip()]

    @property
    def configured(self) -> bool:
        return bool(self.issuer)


def settings_from_env(settings: Any, prefix: str) -> Any:
    """``settings`` with every field that ``PREFIX<FIELD>`` names in the environment."""
    changes: dict[str, Any] = {}
    for item in fields(settings):
        name = f"{prefix}{item.name.upper()}"
        text = os.environ.get(name)
        if text is None or text == "":
            continue
        kind = type(getattr(settings, item.name))
        try:
            changes[item.name] = kind(text) if kind is not str else text
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"{name} must be {what}, got {text!r}") from None
    return replace(settings, **changes)


@dataclass(frozen=True, slots=True)
class DataDir:
    """Where one engine keeps its state; the database URL defaults to SQLite inside it."""

    path: Path
    database_url: str = ""
    settings: EngineSettings = field(default_factory=EngineSettings)
    graph_url: str = ""  # bolt://... keeps the topology in Neo4j; empty: embedded tables
    drift: DriftSettings = field(default_factory=DriftSettings)
    retrain: RetrainSettings = field(default_factory=RetrainSettings)
    playbook: PlaybookSettings = field(default_factory=PlaybookSettings)
    sinks: SinkSettings = field(default_factory=SinkSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    # A file of access tokens the API and the view ask for (aiops/api/access.py);
    # empty: no authentication of its own (a proxy in front, or 127.0.0.1 only).
    api_tokens_file: str = ""
    oidc: OidcSettings = field(default_factory=OidcSettings)  # single sign-on; off by default

    @classmethod
    def from_env(cls, path: str | os.PathLike[str] | None, database_url: str | None = None,
                 graph_url: str | None = None):
        chosen = Path(path or os.environ.get("AIOPS_DATA_DIR") or DEFAULT_DATA_DIR)
        url = database_url or os.environ.get("AIOPS_DATABASE_URL") or ""
        graph = graph_url or os.environ.get("AIOPS_GRAPH_URL") or ""
        settings = EngineSettings()
        max_age = os.environ.get("AIOPS_TOPOLOGY_MAX_AGE")
        if max_age:
            settings = replace(settings, topology_max_age=_seconds(max_age))
        text = os.environ.get("AIOPS_TEXT_SIMILARITY")
        if text:  # off: run without the text model (docs/architecture.md, "Text")
            settings = replace(settings, text_similarity=_switch("AIOPS_TEXT_SIMILARITY", text))
        pace = os.environ.get("AIOPS_LIVE_TIME_SCALE")
        if pace:  # docs/architecture.md, "Learned time scale"
            settings = replace(settings, live_time_scale=_switch("AIOPS_LIVE_TIME_SCALE", pace))
        learned = os.environ.get("AIOPS_LEARNED_RANKING")
        if learned:  # docs/architecture.md, "A ranking learned from tickets"
            settings = replace(settings,
                               learned_ranking=_switch("AIOPS_LEARNED_RANKING", learned))
        beat = os.environ.get("AIOPS_STEADY_BEAT_MAX_GAP")
        if beat:  # docs/architecture.md, "Deduplication and lifecycle"
            settings = replace(settings, steady_beat_max_gap=_beat_gap(beat))
        ahead = os.environ.get("AIOPS_MAX_CLOCK_AHEAD")
        if ahead:  # docs/architecture.md, "The engine's clock"
            settings = replace(settings, max_clock_ahead=_clock_ahead(ahead))
        return cls(path=chosen, database_url=url, graph_url=graph, settings=settings,
                   drift=settings_from_env(DriftSettings(), "AIOPS_DRIFT_"),
                   retrain=settings_from_env(RetrainSettings(), "AIOPS_RETRAIN_"),
                   playbook=settings_from_env(PlaybookSettings(), "AIOPS_PLAYBOOK_"),
                   sinks=settings_from_env(SinkSettings(), "AIOPS_SINK_"),
                   retention=settings_from_env(RetentionSettings(), "AIOPS_RETENTION_"),
                   api_tokens_file=os.environ.get("AIOPS_API_TOKENS_FILE") or "",
                   oidc=settings_from_env(OidcSettings(), "AIOPS_OIDC_"))

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.path / 'aiops.db').resolve()}"
