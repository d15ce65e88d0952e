"""Which playbooks fit an incident, why, and the values their placeholders take.

The incident is what the API's incident detail holds (alerts, ranked root causes and
recommended remediations), so what an operator sees is what a playbook is matched
and filled against.
"""

from __future__ import annotations

import os
import re
from fnmatch import fnmatchcase
from typing import Any

from aiops.errors import InputError
from aiops.playbooks.definition import PLACEHOLDER, Playbook

_ENV = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def match(playbook: Playbook, incident: dict[str, Any]) -> tuple[bool, list[str], str]:
    """Whether every criterion of ``playbook`` holds for ``incident``, the reasons, and
    the recommended action that matched (the top recommendation when no ``actions``
    criterion is given, else "")."""
    reasons: list[str] = []
    recommended = [r["action"] for r in incident.get("remediations") or [] if r.get("action")]
    action = recommended[0] if recommended else ""
    wanted = playbook.match.get("actions")
    if wanted:
        hit = next(((a, w) for a in recommended for w in wanted if w.lower() in a.lower()), None)
        if hit is None:
            return False, [], ""
        action = hit[0]
        reasons.append(f"recommended remediation '{hit[0]}' mentions '{hit[1]}'")
    types = playbook.match.get("alert_types")
    if types:
        present = {a["name"].lower(): a["name"] for a in incident.get("alerts") or []}
        hits = [present[t.lower()] for t in types if t.lower() in present]
        if not hits:
            return False, [], ""
        reasons.append(f"the incident has {', '.join(sorted(set(hits)))} alerts")
    patterns = playbook.match.get("entities")
    if patterns:
        root = _top_root(incident)
        entity = (root or {}).get("entity") or ""
        hit_pattern = next((p for p in patterns if entity and fnmatchcase(entity.lower(),
                                                                          p.lower())), None)
        if hit_pattern is None:
            return False, [], ""
        reasons.append(f"its top root cause {entity} matches '{hit_pattern}'")
    if not playbook.match:
        reasons.append("the playbook has no match criteria: offered for every incident")
    return True, reasons, action


def matching(playbooks: dict[str, Playbook], incident: dict[str, Any]) -> list[dict[str, Any]]:
    """The playbooks that fit, each with its summary, reasons and action, by name."""
    out = []
    for name in sorted(playbooks):
        ok, reasons, action = match(playbooks[name], incident)
        if ok:
            out.append({**playbooks[name].summary(), "reasons": reasons, "action": action})
    return out


def _top_root(incident: dict[str, Any]) -> dict[str, Any] | None:
    causes = incident.get("root_causes") or []
    return causes[0] if causes else None


def context(incident: dict[str, Any], action: str) -> dict[str, str | None]:
    """Placeholder values for ``incident`` (None where the incident has none)."""
    root = _top_root(incident) or {}
    return {"incident.id": incident["id"], "incident.title": incident.get("title"),
            "incident.severity": incident.get("severity"), "root.entity": root.get("entity"),
            "root.node_id": root.get("node_id"), "root.alert_id": root.get("alert_id"),
            "action": action or None}


def _fill(text: str, values: dict[str, str | None], where: str, argument: bool) -> str:
    def one(m: re.Match[str]) -> str:
        value = values.get(m[1])
        if value is None or value == "":
            raise InputError(f"{where}: {{{m[1]}}} has no value for this incident")
        if "\x00" in value or "\n" in value or "\r" in value:
            raise InputError(f"{where}: the value of {{{m[1]}}} holds a control character; "
                             "refused")
        if argument and m.start() == 0 and value.startswith("-"):
            # A command argument that starts with a value from an alert could be read
            # as an option of the program: refused rather than guessed.
            raise InputError(f"{where}: the value of {{{m[1]}}} ({value!r}) starts with '-' "
                             "and would be read as an option")
        # '$' doubled: a value from an alert must not name an environment variable
        # for the step to read (``expand_env`` turns '$$' back into '$').
        return value.replace("$", "$$")

    return PLACEHOLDER.sub(one, text)


def render(value: Any, values: dict[str, str | None], where: str,
           argument: bool = False) -> Any:
    """``value`` with every placeholder filled (strings inside lists and mappings too)."""
    if isinstance(value, str):
        return _fill(value, values, where, argument)
    if isinstance(value, list):
        return [render(v, values, f"{where}[{i}]", argument) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: render(v, values, f"{where}.{k}", argument) for k, v in value.items()}
    return value


def expand_env(value: Any, where: str, used: dict[str, str] | None = None) -> Any:
    """``${NAME}`` from the environment of the process running the step, ``$$`` as a
    literal ``$``; a variable that is not set is an error naming it, not an empty
    string. The values read are added to ``used`` (for ``mask``)."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            if m[1] is None:
                return "$"
            if m[1] not in os.environ:
                raise InputError(f"{where}: environment variable {m[1]} is not set")
            if used is not None:
                used[m[1]] = os.environ[m[1]]
            return os.environ[m[1]]
        return _ENV.sub(one, value)
    if isinstance(value, list):
        return [expand_env(v, f"{where}[{i}]", used) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: expand_env(v, f"{where}.{k}", used) for k, v in value.items()}
    return value


MASKED_MIN_LENGTH = 3  # shorter values would blank out ordinary text; don't use them as secrets


def mask(text: str, used: dict[str, str]) -> str:
    """``text`` with every environment value a step read shown as ``${NAME}`` again, so
    an error message, an answer or a command's output cannot carry a secret into the
    run record."""
    for name, value in sorted(used.items(), key=lambda kv: -len(kv[1])):
        if len(value) >= MASKED_MIN_LENGTH:
            text = text.replace(value, f"${{{name}}}")
    return text
