"""Flask API and incident view: an app factory with one blueprint per area."""

from __future__ import annotations

from typing import Any

from flask import Flask

from aiops.api.errors import register_error_handlers
from aiops.config import DataDir
from aiops.runtime import Runtime, open_runtime
from aiops.sinks.setup import start_delivery

DEFAULTS: dict[str, Any] = {
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,  # bytes per request body
    "AIOPS_MAX_BATCH": 10_000,  # alerts per request
    "AIOPS_DATA_DIR": None,
    "AIOPS_DATABASE_URL": None,
}


def create_app(config: dict[str, Any] | None = None, runtime: Runtime | None = None) -> Flask:
    """Build an app; tests pass their own runtime or data dir, so there are no globals."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    if runtime is None:  # a WSGI server's app (deploy/systemd): it runs policies,
        # delivers incidents, prunes the store (when set) and keeps SQLite's text
        # search indexed too, as `aiops serve` does
        from aiops.playbooks.auto import start_auto_runs
        from aiops.retention_loop import start_retention
        from aiops.text_index_loop import interval_from_env, start_text_index

        every = interval_from_env()  # before opening anything: a bad value stops here
        runtime = open_runtime(DataDir.from_env(app.config["AIOPS_DATA_DIR"],
                                                app.config["AIOPS_DATABASE_URL"]))
        start_auto_runs(runtime)
        start_delivery(runtime, "http://127.0.0.1:8080")
        start_retention(runtime)
        start_text_index(runtime, every)
    app.extensions["aiops"] = runtime
    from aiops.api.metrics import install_metrics

    install_metrics(app, runtime)  # first: its clock starts before the access check
    data_dir = runtime.data_dir
    sign_on = None
    if data_dir.oidc.configured:
        # ValueError naming the setting: a sign-on half set up must not serve openly.
        from aiops.api.oidc import build_sign_on, install_sign_on

        sign_on = build_sign_on(data_dir, runtime.db)
        install_sign_on(app, sign_on)
    if data_dir.api_tokens_file or sign_on is not None:
        # ValueError naming the file and line: nothing is served with fewer tokens
        # than the operator meant (docs/contracts.md, "Access tokens").
        from aiops.api.access import install
        from aiops.api.tokens_reload import TokensFile

        install(app, TokensFile(data_dir.api_tokens_file) if data_dir.api_tokens_file
                else None, sign_on)

    from aiops.api import (
        incidents,
        ingest,
        meta,
        metrics,
        models,
        playbooks,
        sinks,
        topology,
        views,
    )

    for module in (ingest, incidents, playbooks, topology, models, meta, sinks, metrics,
                   views):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    return app
