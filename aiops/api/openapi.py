"""The OpenAPI 3.1 document of the API, served at /api/v1/openapi.json.

Written by hand next to the blueprints; tests check that every route the app
registers under /api/ is described here, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from aiops import __version__
from aiops.api.incident_args import MAX_TEXT_QUERY
from aiops.models import (
    MAX_ENTITY_LENGTH,
    MAX_ID_LENGTH,
    MAX_LABELS,
    MAX_TEXT_LENGTH,
    SEVERITIES,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# What the validators (aiops.models, aiops.api.util) accept, stated so that a client
# generated from this document sends what the server takes: no NUL anywhere, and an
# identifier not blank.
_NO_NUL = "^[^\\x00]*$"
LATEST_EPOCH = 253402300799  # 9999-12-31T23:59:59Z: every time format can show it


def _text(max_length: int = MAX_TEXT_LENGTH) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_length, "pattern": _NO_NUL}


def _identifier(max_length: int = MAX_ID_LENGTH) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length,
            "allOf": [{"pattern": _NO_NUL}, {"pattern": "\\S"}]}


_TIMESTAMP = [{"type": "string", "format": "date-time"},
              {"type": "number", "minimum": 0, "maximum": LATEST_EPOCH}]
_BAD_QUERY = {"400": _json(_ref("Error"), "A query parameter out of range or malformed; "
                                          "the message names it")}
_NOT_JSON = {"415": _json(_ref("Error"), "Not sent with Content-Type: application/json "
                                         "(asked of every operator's action, so that a web "
                                         "page cannot send it cross-site)")}
_ERRORS = {
    "400": _json(_ref("Error"), "Bad input; the message names the field"),
    "413": _json(_ref("Error"), "Body or batch over the limit"),
    "503": _json(_ref("Error"), "Database, topology store or text model unavailable; "
                                "nothing of the request was stored"),
}
_NOT_FOUND = {"404": _json(_ref("Error"), "No such thing; the message names it")}
_FEEDBACK_TEXT = {"author": _text(MAX_ID_LENGTH), "comment": _text(MAX_TEXT_LENGTH)}
_FEEDBACK_ERRORS = {
    "400": _json(_ref("Error"), "Bad input (ids not of this incident, merging an incident "
                                "with itself, splitting out every alert, a merged incident); "
                                "nothing changed"),
    "404": _json(_ref("Error"), "Unknown incident ids, all named; nothing changed"),
}
_INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True,
                "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                     "maximum": 1000}}
_RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer"}}
# Bodies the server asks to be sent as JSON even when they say nothing ({}): the
# content type is what keeps a web page from sending them cross-site (aiops.api.util).
_DECISION = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "additionalProperties": False,
    "properties": {"by": _text(MAX_ID_LENGTH), "comment": _text(MAX_TEXT_LENGTH)}}}}}
_RADIUS = {"name": "radius", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                       "maximum": 3}}

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer"},
           "description": "incidents per status"}
_BOOLEAN_FILTER = {"type": "string", "enum": ["", "true", "false"]}
# The filters of the incident list (aiops.api.incident_args), as its checks read them.
_INCIDENT_FILTERS = [
    {"name": "severity", "in": "query", "schema": {"enum": ["", *SEVERITIES]},
     "description": "the least grave severity kept: major keeps critical and major"},
    {"name": "entity", "in": "query", "schema": _text(MAX_ENTITY_LENGTH),
     "description": "incidents with an alert on this entity, or on the topology node it "
                    "names (by id, name, alias, FQDN, as alerts are placed)"},
    {"name": "q", "in": "query", "schema": _text(MAX_TEXT_QUERY),
     "description": "text in the title or an alert's name or summary, any case; "
                    "% and _ are text, not wildcards"},
    {"name": "acknowledged", "in": "query", "schema": _BOOLEAN_FILTER,
     "description": "true: it has firing alerts, all acknowledged; false: the others"},
    {"name": "suppressed", "in": "query", "schema": _BOOLEAN_FILTER,
     "description": "true: it has firing alerts, all in a maintenance, downtime or "
                    "silence, or suppressed by hand; false: the others"},
    {"name": "since", "in": "query", "schema": {"oneOf": [*_TIMESTAMP, {"const": ""}]},
     "description": "started at or after: RFC 3339 or epoch seconds"},
    {"name": "until", "in": "query", "schema": {"oneOf": [*_TIMESTAMP, {"const": ""}]},
     "description": "started before (exclusive); after since"},
]

SCHEMAS: dict[str, Any] = {
    "Alert": {
        "type": "object",
        "required": ["id", "source", "name", "entity", "severity", "summary", "starts_at"],
        "description": "ends_at, when given, is not before starts_at",
        "properties": {
            "id": _identifier(), "source": _identifier(), "name": _identifier(),
            "entity": _identifier(MAX_ENTITY_LENGTH), "severity": {"enum": list(SEVERITIES)},
            "summary": _text(),
            "starts_at": {"oneOf": _TIMESTAMP},
            "ends_at": {"oneOf": [*_TIMESTAMP, {"type": "null"}]},
            "labels": {"oneOf": [{"type": "object", "maxProperties": MAX_LABELS,
                                  "propertyNames": _identifier(),
                                  "additionalProperties": _text()},
                                 {"type": "null"}]},
            "description": {"oneOf": [_text(), {"type": "null"}]},
        },
    },
    "IngestResult": {
        "type": "object",
        "properties": {
            "accepted": {"type": "integer"},
            "dispositions": {
                "type": "object", "additionalProperties": {"type": "integer"},
                "description": "events by what each did: new, duplicate, resolved, "
                               "refired, unmatched_clear (a clear of a condition never "
                               "seen firing: no alert, kept as a raw event), "
                               "unmatched_report (a state report with no start or end, "
                               "such as a Nagios acknowledgement, of a condition with "
                               "no firing alert: likewise)"},
            "incidents": {"type": "array", "items": {"type": "string"}},
            "unresolved_entities": {"type": "array", "items": {"type": "string"}},
            "clock_ahead": {
                "type": "array",
                "description": "alerts stamped more than AIOPS_MAX_CLOCK_AHEAD seconds "
                               "after they arrived (a wrong clock): their times as sent "
                               "and as used (the arrival time)",
                "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "id": {"type": "string"},
                    "sent_starts_at": {"type": "string", "format": "date-time"},
                    "sent_ends_at": {"type": ["string", "null"], "format": "date-time"},
                    "starts_at": {"type": "string", "format": "date-time"},
                    "ends_at": {"type": ["string", "null"], "format": "date-time"}}}},
        },
    },
    "RootCause": {
        "type": "object",
        "properties": {"entity": {"type": "string"}, "score": {"type": "number"},
                       "alert_id": {"type": ["string", "null"]},
                       "node_id": {"type": ["string", "null"]},
                       "evidence": {"type": "array", "items": {"type": "string"}}},
    },
    "Incident": {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "status": {"enum": ["open", "resolved", "merged"]},
            "title": {"type": "string"}, "severity": {"enum": list(SEVERITIES)},
            "started_at": {"type": "string"}, "updated_at": {"type": "string"},
            "resolved_at": {"type": ["string", "null"]},
            "merged_into": {"type": ["string", "null"]}, "alert_count": {"type": "integer"},
            "root_causes": {"type": "array", "items": _ref("RootCause")},
            "alerts": {"type": "array", "items": {"type": "object", "properties": {
                "placement": {
                    "oneOf": [_ref("Placement"), {"type": "null"}],
                    "description": "why the alert is in this incident (single incident "
                                   "only); null: placed before it was recorded"},
                "why_here": {"type": "string",
                             "description": "placement as a sentence (single incident "
                                            "only)"}}}},
            "acknowledged_alerts": {"type": "integer", "description": "alerts whose label "
                                    "acknowledged is \"true\" (docs/contracts.md)"},
            "suppressed_alerts": {"type": "integer", "description": "alerts whose label "
                                  "suppressed is maintenance, manual, downtime, silence or "
                                  "inhibited"},
            "firing_alerts": {"type": "integer"},
            "firing_acknowledged": {"type": "integer"},
            "firing_suppressed": {"type": "integer"},
            "acknowledged": {"type": "boolean",
                             "description": "it has firing alerts, all acknowledged"},
            "suppressed": {"type": "boolean",
                           "description": "it has firing alerts, all suppressed"},
        },
    },
    "Placement": {
        "type": "object",
        "description": "Why an alert is in its incident (docs/contracts.md): the engine's "
                       "decision when it arrived, with the parts of its score, and the "
                       "moves that came later. decision null: only moves are recorded",
        "properties": {
            "decision": {"enum": ["joined", "opened", "merged", None]},
            "incident": {"type": "string"},
            "score": {"type": "number"}, "threshold": {"type": "number"},
            "link": {"type": "number"}, "text": {"type": "number"},
            "relation": {"type": "number"},
            "via": {"type": "object", "properties": {
                "alert": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
                "node": {"type": "string"}, "hops": {"type": ["integer", "null"]},
                "gap_s": {"type": ["number", "null"]},
                "shared": {"type": "object", "description": "what both nodes run on or "
                           "depend on, when that put them one hop apart", "properties": {
                               "node": {"type": "string"},
                               "kind": {"enum": ["runs_on", "depends_on"]}}},
                "needs": {"enum": ["runs_on", "depends_on"],
                          "description": "the alert's node runs on or depends on "
                          "`node` directly, and `alert` there started before it and "
                          "still fired: what linked them"},
                "facing_port": {"type": "string",
                                "description": "the port of `node`, as `alert` names it, "
                                "whose link leads to the alert's node; `alert` started "
                                "before it and still fired"}}},
            "runner_up": {"type": "object", "properties": {
                "incident": {"type": "string"}, "score": {"type": "number"},
                "bound": {"type": "boolean"}}},
            "merged": {"type": "array", "items": {"type": "string"}},
            "moves": {"type": "array", "items": {"type": "object", "properties": {
                "move": {"enum": ["merged", "absorbed", "split"]},
                "by": {"enum": ["engine", "operator"]},
                "from": {"type": "string"}, "into": {"type": "string"},
                "author": {"type": ["string", "null"]}, "alert": {"type": "string"},
                "share": {"type": "number"}}}},
        },
    },
    "Feedback": {
        "type": "object",
        "description": "An operator's merge or split as stored: every incident it touched "
                       "with its alerts (first event ids) before and after",
        "properties": {
            "id": {"type": "integer"}, "kind": {"enum": ["merge", "split"]},
            "incident_id": {"type": "string"},
            "incidents": {"type": "array", "items": {"type": "string"}},
            "author": {"type": ["string", "null"]}, "comment": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "alerts_before": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string"}}},
            "alerts_after": {"type": "object", "additionalProperties": {
                "type": "array", "items": {"type": "string"}}},
        },
    },
    "FeedbackResult": {
        "type": "object",
        "properties": {"feedback": _ref("Feedback"),
                       "incidents": {"type": "array", "items": _ref("Incident"),
                                     "description": "the incidents touched, as they are now"}},
    },
    "Subgraph": {
        "type": "object",
        "properties": {"nodes": {"type": "array", "items": {"type": "object"}},
                       "edges": {"type": "array", "items": {"type": "object"}}},
    },
    "TopologyConflict": {
        "type": "object",
        "properties": {
            "source": {"type": "string"}, "node": {"type": "string"},
            "what": {"type": "string", "description": "name, serial, mgmt_ip, fqdn, ..., "
                                                      "address, identity or ambiguous"},
            "message": {"type": "string"}, "values": {"type": "object"},
            "first_reported": {"type": "string", "format": "date-time"},
            "last_reported": {"type": "string", "format": "date-time"},
            "reports": {"type": "integer", "description": "discovery runs that found it"},
        },
    },
    "DriftMeasure": {
        "type": "object",
        "description": "One drift measure; 'drifting' when it is over its threshold",
        "properties": {"value": {"type": "number"}, "threshold": {"type": "number"},
                       "drifting": {"type": "boolean"},
                       "training": {"type": ["number", "null"],
                                    "description": "the training period's value, when known"},
                       "chance": {"type": "number", "description": "divergence chance gives "
                                                                   "at this sample size"}},
    },
    "DriftReport": {
        "type": "object",
        "properties": {
            "model_version": {"type": "integer"},
            "verdict": {"enum": ["ok", "drifting"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "window": {"type": "object", "properties": {
                "since": {"type": "string", "format": "date-time"},
                "until": {"type": "string", "format": "date-time"},
                "seconds": {"type": "number"}, "alerts": {"type": "integer"},
                "events": {"type": "integer"}, "incidents": {"type": "integer"}}},
            "training": {"type": "object", "properties": {
                "period": {"type": ["array", "null"], "items": {"type": "string"}},
                "events": {"type": "integer"}, "types": {"type": "integer"}}},
            "measures": {"type": "object", "properties": {
                name: _ref("DriftMeasure") for name in (
                    "unseen_type_share", "type_divergence", "unresolved_share",
                    "noise_reduction", "corrected_share")}},
        },
    },
    "Playbook": {
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "description": {"type": "string"},
            "file": {"type": "string"},
            "match": {"type": "object", "properties": {
                k: {"type": "array", "items": {"type": "string"}}
                for k in ("actions", "alert_types", "entities")}},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"enum": ["http", "command"]}}}},
            "reasons": {"type": "array", "items": {"type": "string"},
                        "description": "why it fits the incident (incident listing only)"},
            "action": {"type": "string", "description": "the recommended remediation that "
                                                        "fills {action}"},
        },
    },
    "PlaybookRun": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "incident_id": {"type": "string"},
            "playbook": {"type": "string"},
            "status": {"enum": ["needs-approval", "queued", "running", "succeeded", "failed",
                                "dry-run", "rejected"]},
            "dry_run": {"type": "boolean"}, "requested_by": {"type": ["string", "null"]},
            "idempotency_key": {"type": ["string", "null"]}, "forced": {"type": "boolean"},
            "requested_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
            "finished_at": {"type": ["string", "null"]},
            "start_by": {"type": ["string", "null"], "description": "queued: the time by "
                         "which a worker must start it; needs-approval: the time by which "
                         "an operator must approve it"},
            "decided_by": {"type": ["string", "null"]},
            "decided_at": {"type": ["string", "null"]},
            "decision_note": {"type": ["string", "null"]},
            "action": {"type": ["string", "null"]},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "steps": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "kind": {"enum": ["http", "command"]},
                "timeout": {"type": "number"}, "continue_on_error": {"type": "boolean"},
                "request": {"type": "object", "description": "method, url, headers, json "
                            "(http) or argv (command), placeholders filled, ${NAME} not"},
                "status": {"enum": ["pending", "not run", "succeeded", "failed", "skipped"]},
                "detail": {"type": "string"}, "seconds": {"type": "number"}}}},
            "error": {"type": ["string", "null"]},
        },
    },
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": {
            "status": {"type": "integer"}, "message": {"type": "string"},
            "field": {"type": "string"}}}},
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/alerts": {"post": {
        "summary": "Ingest one canonical alert, an array, or {\"alerts\": [...]}",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [_ref("Alert"), {"type": "array", "minItems": 1, "items": _ref("Alert")},
                      {"type": "object", "required": ["alerts"], "properties": {
                          "alerts": {"type": "array", "minItems": 1,
                                     "items": _ref("Alert")}}}]}}}},
        "responses": {"200": _json(_ref("IngestResult"), "Ingested"), **_ERRORS}}},
    "/api/v1/webhooks/alertmanager": {"post": {
        "summary": "Alertmanager webhook receiver (payload version 4); idempotent",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["alerts"], "properties": {
                "version": {"oneOf": [{"const": "4"}, {"type": "null"}]},
                "alerts": {"type": "array", "items": {
                    "type": "object", "required": ["labels", "startsAt"], "properties": {
                        "status": {"enum": ["firing", "resolved"]},
                        "labels": {"type": "object", "required": ["alertname"],
                                   "maxProperties": MAX_LABELS,
                                   "propertyNames": _identifier(),
                                   "properties": {"alertname": _identifier()},
                                   "additionalProperties": _text()},
                        "annotations": {"type": "object",
                                        "additionalProperties": _text()},
                        "startsAt": {"type": "string", "format": "date-time"},
                        "endsAt": {"type": "string"},
                        "fingerprint": {"type": "string"}}}}}}}}},
        "responses": {"200": _json(_ref("IngestResult"), "Ingested"), **_ERRORS}}},
    "/api/v1/webhooks": {"get": {
        "summary": "Webhook mappings: built-in (zabbix, nagios) and the data dir's "
                   "webhooks/*.yml, with the files refused and why",
        "responses": {"200": _json({"type": "object", "properties": {
            "folder": {"type": "string"},
            "webhooks": {"type": "array", "items": {"type": "object"}},
            "errors": {"type": "array", "items": {"type": "string"}}}}, "Mappings")}}},
    "/api/v1/webhooks/{name}": {"post": {
        "summary": "A tool's own JSON notification, made into alerts by mapping NAME "
                   "(docs/webhooks.md); validated whole, ingested in one transaction",
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}},
        "responses": {"200": _json(_ref("IngestResult"), "Ingested"), **_ERRORS,
                      **_NOT_FOUND}}},
    "/api/v1/incidents": {"get": {
        "summary": "Incidents, newest first, of those the filters keep (all ANDed; an "
                   "empty value is no filter)",
        "parameters": [{"name": "status", "in": "query",
                        "schema": {"enum": ["open", "resolved", "merged"]}}, _LIMIT,
                       {"name": "offset", "in": "query", "schema": {
                           "type": "integer", "minimum": 0, "maximum": 10_000_000}},
                       *_INCIDENT_FILTERS],
        "responses": {"200": _json({"type": "object", "properties": {
            "incidents": {"type": "array", "items": {"type": "object"}},
            "counts": _COUNTS, "matching": _COUNTS,
            "total": {"type": "integer", "description": "incidents the filters keep of the "
                      "status asked for (without: open and resolved); what paging counts"},
            "filters": {"type": "object"}, "limit": {"type": "integer"},
            "offset": {"type": "integer"}}},
            "A page of incidents; `counts` are all incidents per status, `matching` those "
            "the filters keep"), **_ERRORS}}},
    "/api/v1/incidents/{incident_id}": {"get": {
        "summary": "One incident with its alerts and ranked root causes",
        "parameters": [_INCIDENT_ID],
        "responses": {"200": _json(_ref("Incident"), "The incident"), **_NOT_FOUND}}},
    "/api/v1/incidents/{incident_id}/topology": {"get": {
        "summary": "The topology around an incident: alarming, root-cause and silent nodes",
        "parameters": [_INCIDENT_ID, _RADIUS],
        "responses": {"200": _json(_ref("Subgraph"), "Subgraph"), **_BAD_QUERY,
                      **_NOT_FOUND}}},
    "/api/v1/incidents/{incident_id}/merge": {"post": {
        "summary": "Operator feedback: fold other incidents into this one (one fault); "
                   "stored for the next training",
        "parameters": [_INCIDENT_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["incident_ids"], "additionalProperties": False,
            "properties": {"incident_ids": {"type": "array", "minItems": 1,
                                            "uniqueItems": True, "items": _identifier()},
                           **_FEEDBACK_TEXT}}}}},
        "responses": {"200": _json(_ref("FeedbackResult"), "Merged and stored"),
                      **_FEEDBACK_ERRORS, **_NOT_JSON}}},
    "/api/v1/incidents/{incident_id}/split": {"post": {
        "summary": "Operator feedback: move alerts (any of their event ids) to a new "
                   "incident (another fault); stored for the next training",
        "parameters": [_INCIDENT_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["alert_ids"], "additionalProperties": False,
            "properties": {"alert_ids": {"type": "array", "minItems": 1,
                                         "uniqueItems": True, "items": _identifier()},
                           **_FEEDBACK_TEXT}}}}},
        "responses": {"200": _json(_ref("FeedbackResult"), "Split and stored"),
                      **_FEEDBACK_ERRORS, **_NOT_JSON}}},
    "/api/v1/alerts/unresolved": {"get": {
        "summary": "Alerts whose entity matched no topology node (kept, never dropped)",
        "parameters": [_LIMIT],
        "responses": {"200": _json({"type": "object"}, "Count and newest alerts"),
                      **_BAD_QUERY}}},
    "/api/v1/topology": {"get": {
        "summary": "Counts of stored nodes and edges",
        "responses": {"200": _json({"type": "object"}, "Counts")}}},
    "/api/v1/topology/conflicts": {"get": {
        "summary": "Identity conflicts found by discovery runs, most recently reported first",
        "parameters": [_LIMIT,
                       {"name": "node", "in": "query", "schema": {"type": "string"}},
                       {"name": "source", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": _json({"type": "object", "properties": {
            "count": {"type": "integer"},
            "conflicts": {"type": "array", "items": _ref("TopologyConflict")}}},
            "Count and conflicts"), **_ERRORS}}},
    "/api/v1/topology/nodes/{node}": {"get": {
        "summary": "A node (by id, name or alias) and its neighbourhood",
        "parameters": [{"name": "node", "in": "path", "required": True,
                        "schema": {"type": "string"}}, _RADIUS],
        "responses": {"200": _json({"type": "object"}, "Node and neighbourhood"),
                      **_BAD_QUERY, **_NOT_FOUND}}},
    "/api/v1/models/correlation": {"get": {
        "summary": "Correlation model versions and which one is promoted",
        "responses": {"200": _json({"type": "object", "properties": {
            "promoted": {"type": ["integer", "null"]},
            "versions": {"type": "array", "items": {"type": "object"}}}},
            "Versions with their training metadata")}}},
    "/api/v1/models/correlation/shadow": {"get": {
        "summary": "Shadow mode: regroup a window of stored alerts with a model version and "
                   "the promoted model, compared with the stored incidents (nothing changes)",
        "parameters": [
            {"name": "since", "in": "query", "required": True,
             "schema": {"oneOf": _TIMESTAMP}, "description": "RFC 3339 or epoch seconds"},
            {"name": "until", "in": "query", "required": True,
             "schema": {"oneOf": _TIMESTAMP},
             "description": "end of the window, exclusive; after since"},
            {"name": "version", "in": "query", "schema": {"type": "integer"},
             "description": "model version to try (default: the promoted one)"}],
        "responses": {"200": _json({"type": "object"},
                                   "Pairwise agreement, incident counts, splits and merges "
                                   "per model"), **_ERRORS}}},
    "/api/v1/models/correlation/drift": {"get": {
        "summary": "Drift: how far the most recent stored alerts (event time, up to the latest "
                   "stored start) moved from what a model version was trained on",
        "parameters": [
            {"name": "window", "in": "query", "schema": {
                "type": "string",
                "pattern": "^\\s*[0-9]*[1-9][0-9]*(\\.[0-9]+)?\\s*[smhd]?\\s*$"},
             "description": "duration such as 24h, 90m, 7d or seconds (default 24h)"},
            {"name": "version", "in": "query", "schema": {"type": "integer"},
             "description": "model version to judge (default: the promoted one)"}],
        "responses": {"200": _json(_ref("DriftReport"), "Verdict, reasons and measures"),
                      **_ERRORS}}},
    "/api/v1/playbooks": {"get": {
        "summary": "The data dir's playbooks, and the files refused with why",
        "responses": {"200": _json({"type": "object", "properties": {
            "folder": {"type": "string"},
            "playbooks": {"type": "array", "items": _ref("Playbook")},
            "errors": {"type": "array", "items": {"type": "string"}}}}, "Playbooks")}}},
    "/api/v1/incidents/{incident_id}/playbooks": {"get": {
        "summary": "Playbooks that fit the incident (with reasons) and its past runs",
        "parameters": [_INCIDENT_ID],
        "responses": {"200": _json({"type": "object", "properties": {
            "incident_id": {"type": "string"},
            "playbooks": {"type": "array", "items": _ref("Playbook")},
            "errors": {"type": "array", "items": {"type": "string"}},
            "runs": {"type": "array", "items": _ref("PlaybookRun")}}}, "Fitting playbooks"),
            **_NOT_FOUND}}},
    "/api/v1/incidents/{incident_id}/playbooks/{name}/runs": {"post": {
        "summary": "Run a playbook for the incident (a Celery worker with AIOPS_BROKER_URL, "
                   "else a thread of the server); dry_run records the filled steps only",
        "parameters": [_INCIDENT_ID, {"name": "name", "in": "path", "required": True,
                                      "schema": {"type": "string"}},
                       {"name": "Idempotency-Key", "in": "header", "required": False,
                        "description": "names the request: the same key for the same "
                                       "incident and playbook returns the run it made; "
                                       "sent with idempotency_key too, the two must be "
                                       "equal",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 256}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False,
            "properties": {"requested_by": _text(MAX_ID_LENGTH),
                           "dry_run": {"type": "boolean"},
                           "idempotency_key": {"type": "string", "minLength": 1,
                                               "maxLength": 256},
                           "force": {"type": "boolean", "description": "run even while "
                                     "another run of the playbook on the incident is "
                                     "queued or running"}}}}}},
        "responses": {
            "202": _json({"type": "object", "properties": {
                "run": _ref("PlaybookRun"), "dispatched": {"enum": ["celery", "thread"]},
                "replayed": {"const": False}}}, "Queued"),
            "201": _json({"type": "object", "properties": {"run": _ref("PlaybookRun")}},
                         "Dry run recorded"),
            "200": _json({"type": "object", "properties": {
                "run": _ref("PlaybookRun"), "dispatched": {"type": "null"},
                "replayed": {"const": True}}},
                "Asked for before with this idempotency key: that run as it is now; "
                "nothing new recorded or run"),
            "409": _json(_ref("Error"), "Another run of the playbook on the incident is "
                                        "queued or running (error.run_id names it); send "
                                        "force to run anyway; nothing recorded"),
            "400": _json(_ref("Error"), "Bad body, a playbook file that was refused, a "
                                        "playbook that does not fit, a placeholder with no "
                                        "value; nothing recorded"),
            **_NOT_FOUND, **_NOT_JSON,
            "503": _json(_ref("Error"), "The broker did not take the run; recorded failed"),
        }}},
    "/api/v1/playbook-runs": {"get": {
        "summary": "Recorded playbook runs, newest first",
        "parameters": [{"name": "incident_id", "in": "query", "schema": {"type": "string"}},
                       _LIMIT],
        "responses": {"200": _json({"type": "object", "properties": {
            "runs": {"type": "array", "items": _ref("PlaybookRun")}}}, "Runs"), **_ERRORS}}},
    "/api/v1/playbook-runs/{run_id}": {"get": {
        "summary": "One playbook run with each step's outcome",
        "parameters": [{"name": "run_id", "in": "path", "required": True,
                        "schema": {"type": "integer"}}],
        "responses": {"200": _json(_ref("PlaybookRun"), "The run"), **_NOT_FOUND}}},
    "/api/v1/playbook-runs/{run_id}/approve": {"post": {
        "summary": "An operator's yes to a run a policy asked for with approval: it is "
                   "queued and dispatched",
        "parameters": [_RUN_ID],
        "requestBody": _DECISION,
        "responses": {
            "202": _json({"type": "object", "properties": {
                "run": _ref("PlaybookRun"), "dispatched": {"enum": ["celery", "thread"]}}},
                "Approved and dispatched"),
            "409": _json(_ref("Error"), "Not waiting for approval (decided, or past its "
                                        "deadline); error.run_id names it"),
            "400": _json(_ref("Error"), "Bad body"), **_NOT_FOUND, **_NOT_JSON}}},
    "/api/v1/playbook-runs/{run_id}/reject": {"post": {
        "summary": "An operator's no to a run waiting for approval: rejected, nothing runs",
        "parameters": [_RUN_ID],
        "requestBody": _DECISION,
        "responses": {
            "200": _json({"type": "object", "properties": {"run": _ref("PlaybookRun")}},
                         "Rejected"),
            "409": _json(_ref("Error"), "Not waiting for approval; error.run_id names it"),
            "400": _json(_ref("Error"), "Bad body"), **_NOT_FOUND, **_NOT_JSON}}},
    "/api/v1/sinks": {"get": {
        "summary": "The outbox of incidents pushed to webhooks and ServiceNow, per sink",
        "responses": {"200": _json({"type": "object", "properties": {
            "sinks": {"type": "array", "items": {"type": "object", "properties": {
                "sink": {"type": "string"}, "configured": {"type": "boolean"},
                "pending": {"type": "integer"}, "delivered": {"type": "integer"},
                "failed": {"type": "integer"},
                "oldest_pending_seconds": {"type": ["number", "null"]},
                "last_delivered_at": {"type": ["string", "null"]},
                "last_error": {"type": ["object", "null"]},
                "failures": {"type": "array", "items": {"type": "object"}}}}}}},
            "Per sink: pending, delivered, failed, the last error"), **_ERRORS}}},
    "/api/v1/openapi.json": {"get": {
        "summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}},
    "/api/v1/health": {"get": {
        "summary": "Liveness and live-state sizes",
        "responses": {"200": _json({"type": "object"}, "OK")}}},
}


# Only when the server has AIOPS_API_TOKENS_FILE (aiops/api/access.py); otherwise no
# credentials are asked for, hence the empty requirement first.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "A token of AIOPS_API_TOKENS_FILE; scopes read (GET), ingest "
                              "(alerts, webhooks), operate (merge, split, playbook runs). "
                              "A successful answer to a token expiring within 7 days "
                              "carries Aiops-Token-Expires: the instant, RFC 3339."},
    "basic": {"type": "http", "scheme": "basic",
              "description": "The same token as the password, any user name."},
    # Only with AIOPS_OIDC_ISSUER (aiops/api/oidc.py): what the view's own calls send.
    "session": {"type": "apiKey", "in": "cookie", "name": "aiops_session",
                "description": "The session of a sign-in at the OpenID provider "
                               "(/auth/login); scopes read and operate by the user's "
                               "groups. A POST must also send X-CSRF-Token: the "
                               "session's CSRF token, which the view's pages hold."},
}


def operation_id(method: str, path: str) -> str:
    """``get_incidents_incident_id`` for ``GET /api/v1/incidents/{incident_id}``: the
    names the links below use, and what a generated client calls its methods."""
    words = path.removeprefix("/api/v1/").replace("{", "").replace("}", "")
    return "_".join([method, *(w for w in words.replace("-", "_").replace(".", "_")
                               .split("/") if w)])


# Where a response names things other operations take (OpenAPI links): a client, or a
# tester walking the API, follows an incident from the list to its detail, topology,
# playbooks and feedback, and a run from the list to its decision.
_INCIDENT = "/api/v1/incidents/{incident_id}"
_RUN = "/api/v1/playbook-runs/{run_id}"
_FIRST_INCIDENT = ("incident_id", "$response.body#/incidents/0/id")
_FIRST_RUN = ("run_id", "$response.body#/runs/0/id")
# (method, path) answering -> link name -> (method, path) taking, (parameter, value)
LINKS: dict[tuple[str, str], dict[str, tuple[tuple[str, str], tuple[str, str]]]] = {
    ("get", "/api/v1/incidents"): {
        "incident": (("get", _INCIDENT), _FIRST_INCIDENT),
        "topology": (("get", f"{_INCIDENT}/topology"), _FIRST_INCIDENT),
        "playbooks": (("get", f"{_INCIDENT}/playbooks"), _FIRST_INCIDENT),
        "merge": (("post", f"{_INCIDENT}/merge"), _FIRST_INCIDENT),
        "split": (("post", f"{_INCIDENT}/split"), _FIRST_INCIDENT)},
    ("post", "/api/v1/alerts"): {
        "incident": (("get", _INCIDENT), ("incident_id", "$response.body#/incidents/0"))},
    ("get", "/api/v1/playbook-runs"): {
        "run": (("get", _RUN), _FIRST_RUN),
        "approve": (("post", f"{_RUN}/approve"), _FIRST_RUN),
        "reject": (("post", f"{_RUN}/reject"), _FIRST_RUN)},
}


def _paths() -> dict[str, Any]:
    """``PATHS`` with every operation's id and the links of its first 2xx answer."""
    out: dict[str, Any] = {}
    for path, methods in PATHS.items():
        out[path] = {}
        for method, operation in methods.items():
            operation = {**operation, "operationId": operation_id(method, path)}
            links = LINKS.get((method, path))
            if links:
                code = min(c for c in operation["responses"] if c.startswith("2"))
                answer = {**operation["responses"][code], "links": {
                    name: {"operationId": operation_id(*target),
                           "parameters": {parameter: value}}
                    for name, (target, (parameter, value)) in links.items()}}
                operation["responses"] = {**operation["responses"], code: answer}
            out[path][method] = operation
    return out


def openapi_document() -> dict[str, Any]:
    return {"openapi": "3.1.0",
            "info": {"title": "aiops engine API", "version": __version__},
            "paths": _paths(),
            "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
            "security": [{}, {"bearer": []}, {"basic": []}, {"session": []}]}
