"""Shadow mode: how a model version would have grouped a window of stored alerts.

A new model (relations, fitted weights) should not be trusted blind. ``shadow``
regroups the alerts that started in a window with a chosen version and with the
promoted one, in memory, and compares both with what is stored (the live grouping,
operator corrections included), so an operator sees how many incidents each would
make and which stored incidents it would split or merge before promoting it
(``aiops model promote``). Nothing stored changes.
"""

from __future__ import annotations

from typing import Any

from aiops.engine.regroup import compare, load_lead_in, load_window
from aiops.errors import InputError
from aiops.learning.training import MODEL_NAME, CorrelationModel
from aiops.runtime import Runtime
from aiops.timeutil import to_rfc3339


def _model(runtime: Runtime, version: int | None) -> CorrelationModel:
    stored = runtime.registry.load(MODEL_NAME, version)
    if stored is None:
        if version is None:
            return CorrelationModel()  # nothing trained yet: the defaults
        raise InputError(f"no correlation model version {version}", field="version")
    return CorrelationModel.from_dict(stored["model"], version=stored["version"])


def shadow(runtime: Runtime, since: float, until: float, version: int | None) -> dict[str, Any]:
    """Regroup [since, until) with model ``version`` and the promoted one; compare."""
    if until <= since:
        raise InputError("'until' must be later than 'since'", field="until")
    if version is not None and version not in runtime.registry.versions(MODEL_NAME):
        raise InputError(f"no correlation model version {version}", field="version")
    with runtime.db.connect() as conn:
        try:
            records = load_window(conn, since, until)
            lead_in = load_lead_in(conn, since)
        except ValueError as exc:
            raise InputError(str(exc), field="since") from None
    if not records:  # else both models "agree" with F1 1.000 on nothing
        raise InputError(f"no stored alerts started from {to_rfc3339(since)} to "
                         f"{to_rfc3339(until)}: nothing to compare the models on; choose "
                         "another window", field="since")
    engine = runtime.engine
    topology = engine.timeline.at(since).graph if engine.timeline is not None \
        else engine.topology
    stored = {r.id: r.incident_id for r in records if r.incident_id is not None}
    report: dict[str, Any] = {"since": since, "until": until, "alerts": len(records)}
    for label, chosen in (("promoted", None), ("candidate", version)):
        model = _model(runtime, chosen)
        groups = runtime.regroup(model, records, topology, lead_in)
        report[label] = {"version": model.version, **compare(stored, groups).to_dict()}
        report[f"_{label}_groups"] = groups
    promoted, candidate = report.pop("_promoted_groups"), report.pop("_candidate_groups")
    report["candidate_vs_promoted"] = compare(
        {k: v for k, v in promoted.items()}, candidate).agreement
    return report
