"""Every API error is JSON ``{"error": {"status", "message"}}`` with the right code; the
same errors on the incident view's pages are pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from aiops.errors import BrokerUnavailable, Conflict, DamagedFile, InputError, NotFound
from aiops.learning.embeddings import EmbeddingsUnavailable
from topology.store import GraphStoreError

HEADINGS = {400: "Bad request", 404: "Not found", 405: "Method not allowed",
            413: "Too large", 500: "Something went wrong", 503: "Unavailable"}


def error_response(status: int, message: str,
                   field: str | None = None) -> tuple[Response | str, int]:
    """JSON under /api/; for the pages people open, a page saying the same (a browser
    that opens an incident while the database is away should not show raw JSON)."""
    if not _wants_json():
        heading = HEADINGS.get(status, "Error")
        return render_template("not_found.html", heading=heading, message=message), status
    body: dict[str, object] = {"status": status, "message": message}
    if field:
        body["field"] = field
    return jsonify({"error": body}), status


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(InputError)
    def _input_error(err: InputError):
        return error_response(400, str(err), err.field)

    @app.errorhandler(NotFound)
    def _not_found(err: NotFound):
        return error_response(404, str(err))

    @app.errorhandler(Conflict)
    def _conflict(err: Conflict):
        # Something already under way (a run of the same playbook): nothing was stored.
        body: dict[str, object] = {"status": 409, "message": str(err)}
        if err.run_id is not None:
            body["run_id"] = err.run_id
        return jsonify({"error": body}), 409

    @app.errorhandler(sa.exc.DBAPIError)
    def _storage_error(err: sa.exc.DBAPIError):
        # The database went away or refused the write: nothing of the request was stored.
        app.logger.error("storage failed: %s", err)
        reason = str(err.orig).strip().splitlines()[0] if err.orig else type(err).__name__
        return error_response(503, f"storage unavailable, nothing of this request was "
                                   f"stored; retry later ({reason})")

    @app.errorhandler(GraphStoreError)
    def _graph_error(err: GraphStoreError):
        # The topology graph server went away or refused a write; nothing was stored.
        app.logger.error("graph store failed: %s", err)
        return error_response(503, f"topology store unavailable; retry later ({err})")

    @app.errorhandler(EmbeddingsUnavailable)
    def _text_model_error(err: EmbeddingsUnavailable):
        # The text model cannot load: the engine kept nothing of the batch it was placing.
        app.logger.error("text model unavailable: %s", err)
        return error_response(503, f"text model unavailable, nothing of this request was "
                                   f"stored ({err}); or run with AIOPS_TEXT_SIMILARITY=off")

    @app.errorhandler(BrokerUnavailable)
    def _broker_error(err: BrokerUnavailable):
        # The run is recorded as failed with the reason; nothing executed.
        app.logger.error("broker unavailable: %s", err)
        return error_response(503, str(err))

    @app.errorhandler(DamagedFile)
    def _damaged_file(err: DamagedFile):
        # A model file in the data dir was damaged or edited by hand: the message says
        # which and how to repair it, rather than a bare 500.
        app.logger.error("damaged data: %s", err)
        return error_response(500, str(err))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        if not _wants_json():  # an unknown page: ours, with the way back, not werkzeug's
            return _with_headers_of(err, error_response(err.code or 500,
                                                        err.description or err.name))
        message = err.description or err.name
        if err.code == 413 and message == RequestEntityTooLarge.description:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is larger than the limit of {limit} bytes"
        return _with_headers_of(err, error_response(err.code or 500, message))


def _with_headers_of(err: HTTPException, result: tuple[Response | str, int]) -> Response:
    """``result`` with the headers werkzeug's own answer to ``err`` carries, its content
    type apart: a 405 must name the methods the resource allows (``Allow``, RFC 9110
    15.5.6), and a client or proxy reads them there, not in the message."""
    response = make_response(result)
    for name, value in err.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
