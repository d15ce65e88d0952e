"""The API answers as its OpenAPI document says, checked by Schemathesis.

Schemathesis (a property-based API tester) reads /api/v1/openapi.json and sends the
operations requests built from it, valid ones and malformed ones (wrong types, values
out of range, NUL characters, lone surrogates, unknown methods), and checks every
answer: no 5xx, a status code, content type, headers and body the document declares
for that operation, and a 405 that names what is allowed. It runs its command-line
tool against a real server (the app on a thread over HTTP, with the demo's topology and
alerts stored), as an integrator's client would meet it.

Not checked here: that every request the document allows is accepted, and every one it
refuses is refused (``positive_data_acceptance``, ``negative_data_rejection``). The
document states the validators' limits (lengths, ranges, no NUL, non-blank ids, unique
ids), but some rules relate two values and JSON Schema cannot say them: ``ends_at``
not before ``starts_at``, ``until`` after ``since``, an ``Idempotency-Key`` header equal
to the body's ``idempotency_key``, and the canonical checks of the alert an
Alertmanager alert becomes (its entity from its labels). The exploratory run that
found the gaps fixed with this test is in docs/contracts.md ("The OpenAPI document").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.api.openapi import openapi_document
from aiops.runtime import Runtime
from aiops.store.tables import incidents
from tests.conftest import serving_app

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance,unsupported_method,"
          "allow_header_conformance")


def _schemathesis() -> Path:
    tool = Path(sys.executable).with_name("schemathesis")
    if not tool.exists():
        pytest.fail(f"{tool} is missing: `make test` installs it (setup.cfg, extra dev)")
    return tool


def _run(url: str, folder: Path, *options: str) -> str:
    """One Schemathesis run over every operation; its report when it found something."""
    done = subprocess.run(
        [str(_schemathesis()), *options, "run", f"{url}/api/v1/openapi.json",
         "--checks", CHECKS, "--max-examples", "25", "--seed", "1",
         "--generation-deterministic", "--phases", "coverage,fuzzing", "--no-color"],
        capture_output=True, text=True, timeout=900, cwd=folder)
    report = done.stdout[-8000:]
    assert done.returncode == 0, report
    # every operation but the document's own (Schemathesis leaves the URL it read out)
    operations = sum(len(methods) for methods in openapi_document()["paths"].values()) - 1
    assert f"{operations} selected / {operations} total" in done.stdout, report
    return done.stdout


def test_every_answer_is_as_the_openapi_document_says(demo_runtime: Runtime,
                                                      tmp_path: Path) -> None:
    with demo_runtime.db.connect() as conn:
        incident = conn.execute(sa.select(incidents.c.id).where(
            incidents.c.status != "merged").order_by(incidents.c.id).limit(1)).scalar_one()
    node = sorted(demo_runtime.engine.topology.nodes)[0]
    # Made-up ids mostly find nothing (404); the second run puts a stored incident and a
    # real device in every path, so its requests reach the code behind them.
    pinned = tmp_path / "schemathesis.toml"
    pinned.write_text(f'[parameters]\n"path.incident_id" = "{incident}"\n'
                      f'"path.node" = "{node}"\n', encoding="utf-8")
    with serving_app(demo_runtime) as served:
        _run(served.url, tmp_path)
        _run(served.url, tmp_path, "--config-file", str(pinned))
