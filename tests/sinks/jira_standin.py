"""A Jira stand-in for the sink tests: the REST resources the Jira sink calls, answering
with the payloads Atlassian's REST API documentation shows (Jira Cloud is SaaS, and
Jira Data Center cannot be installed here).

Documented shapes followed: create issue (``POST /rest/api/2/issue`` → 201 ``{"id",
"key", "self"}``; 400 ``{"errorMessages": [], "errors": {field: message}}``), add
comment (201 with the comment), get issue with ``fields=status``, get transitions
(``{"transitions": [{"id", "name", "to": {"name", "statusCategory": {"key"}}}]}``),
do transition (204, no body; 400 naming a field the screen requires), Cloud's enhanced
search (``/rest/api/3/search/jql`` → ``{"issues", "isLast"}``) and Data Center's search
(``/rest/api/2/search`` → ``{"startAt", "maxResults", "total", "issues"}``). The
workflow is Jira's simplified one: To Do (new), In Progress (indeterminate), Done
(done); a transition offered depends on the status the issue is in.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATUSES = {"To Do": "new", "In Progress": "indeterminate", "Done": "done"}
# status -> transitions offered from it: (id, name, target status)
WORKFLOW = {"To Do": [("11", "Start progress", "In Progress"), ("31", "Done", "Done")],
            "In Progress": [("21", "Stop progress", "To Do"), ("31", "Done", "Done")],
            "Done": [("41", "Reopen", "To Do")]}
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")


class JiraSite:
    """The issues of one project, the calls made, and how the site is set up."""

    def __init__(self, project: str = "OPS", issue_types: tuple[str, ...] = ("Task",),
                 resolution_required: bool = False) -> None:
        self.project = project
        self.issue_types = issue_types
        self.resolution_required = resolution_required
        self.issues: dict[str, dict[str, Any]] = {}
        self.comments: dict[str, list[str]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.auth: set[str] = set()
        self.lock = threading.Lock()

    def status_of(self, key: str) -> str:
        return self.issues[key]["fields"]["status"]["name"]


def _status(name: str) -> dict[str, Any]:
    return {"name": name, "statusCategory": {"key": STATUSES[name]}}


def jira_handler(site: JiraSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any = None) -> None:
            text = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def _record(self, method: str, body: Any = None) -> None:
            site.calls.append((method, self.path, body))
            site.auth.add(self.headers.get("Authorization", ""))

        def _issue(self, key: str) -> dict[str, Any] | None:
            return site.issues.get(key)

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with site.lock:
                self._record("GET")
                if parts.path in ("/rest/api/3/search/jql", "/rest/api/2/search"):
                    jql = query.get("jql", [""])[0]
                    project = re.search(r'project = "([^"]*)"', jql)
                    label = re.search(r'labels = "([^"]*)"', jql)
                    found = [{"id": i["id"], "key": i["key"],
                              "fields": {"labels": i["fields"]["labels"]}}
                             for i in site.issues.values()
                             if project and project.group(1) == site.project
                             and label and label.group(1) in i["fields"]["labels"]]
                    if parts.path.endswith("/jql"):
                        return self._answer(200, {"issues": found, "isLast": True})
                    return self._answer(200, {"startAt": 0, "maxResults": 50,
                                              "total": len(found), "issues": found})
                match = re.fullmatch(r"/rest/api/2/issue/([A-Z]+-\d+)(/transitions)?",
                                     parts.path)
                issue = self._issue(match.group(1)) if match else None
                if issue is None:
                    return self._answer(404, {"errorMessages": [
                        "Issue does not exist or you do not have permission to see it."],
                        "errors": {}})
                if match.group(2):
                    offered = WORKFLOW[issue["fields"]["status"]["name"]]
                    return self._answer(200, {"transitions": [
                        {"id": tid, "name": name, "to": _status(target)}
                        for tid, name, target in offered]})
                return self._answer(200, {"id": issue["id"], "key": issue["key"],
                                          "fields": {"status": issue["fields"]["status"]}})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            path = urlsplit(self.path).path
            with site.lock:
                self._record("POST", body)
                if path == "/rest/api/2/issue":
                    return self._create(body)
                match = re.fullmatch(r"/rest/api/2/issue/([A-Z]+-\d+)/(comment|transitions)",
                                     path)
                issue = self._issue(match.group(1)) if match else None
                if issue is None:
                    return self._answer(404, {"errorMessages": ["Issue does not exist or "
                                                                "you do not have permission "
                                                                "to see it."], "errors": {}})
                if match.group(2) == "comment":
                    site.comments.setdefault(issue["key"], []).append(body["body"])
                    return self._answer(201, {"id": str(len(site.comments[issue["key"]])),
                                              "body": body["body"]})
                return self._transition(issue, body)

        def _create(self, body: dict[str, Any]) -> None:
            fields = body.get("fields", {})
            errors = {}
            if fields.get("project", {}).get("key") != site.project:
                errors["project"] = "valid project is required"
            if fields.get("issuetype", {}).get("name") not in site.issue_types:
                errors["issuetype"] = "Specify a valid issue type"
            if not fields.get("summary"):
                errors["summary"] = "You must specify a summary of the issue."
            if "priority" in fields and fields["priority"].get("name") not in PRIORITIES:
                errors["priority"] = (f"Specify the Priority (name) in the string format, "
                                      f"'{fields['priority'].get('name')}' is not valid")
            if errors:
                return self._answer(400, {"errorMessages": [], "errors": errors})
            number = 1 + len(site.issues)
            key = f"{site.project}-{number}"
            site.issues[key] = {"id": str(10000 + number), "key": key,
                                "fields": {**fields, "status": _status("To Do")}}
            self._answer(201, {"id": str(10000 + number), "key": key,
                               "self": f"http://jira.example/rest/api/2/issue/{10000 + number}"})

        def _transition(self, issue: dict[str, Any], body: dict[str, Any]) -> None:
            wanted = str(body.get("transition", {}).get("id"))
            offered = {tid: target for tid, _, target in
                       WORKFLOW[issue["fields"]["status"]["name"]]}
            if wanted not in offered:
                return self._answer(400, {"errorMessages": [
                    f"Transition id '{wanted}' is not valid for this issue."], "errors": {}})
            target = offered[wanted]
            resolution = body.get("fields", {}).get("resolution")
            if target == "Done" and site.resolution_required and not resolution:
                return self._answer(400, {"errorMessages": [],
                                          "errors": {"resolution": "Resolution is required."}})
            issue["fields"]["status"] = _status(target)
            issue["fields"]["resolution"] = resolution if target == "Done" else None
            self._answer(204)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
