"""Errors that carry a message meant for the person who sent the input.

Every layer (API, CLI, replay) turns an ``InputError`` into the same thing: a 4xx
response or exit status 2 with the message, and nothing written.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input was refused; ``str(err)`` names what was wrong and where."""

    def __init__(self, message: str, *, field: str | None = None, where: str | None = None):
        self.field = field
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)

    def located(self, where: str) -> InputError:
        """Return the same error, prefixed with a location (``file:line``, ``alerts[3]``)."""
        prefix = f"{where}: {self.where}" if self.where else where
        return InputError(self.detail, field=self.field, where=prefix)


class NotFound(LookupError):
    """A named thing (incident, node) does not exist; the message names it."""


class Conflict(RuntimeError):
    """The request clashes with something already under way (a playbook run of the same
    playbook on the same incident still queued or running); the message names it and
    how to go ahead anyway. The API answers 409, the CLI exits 2; nothing is stored."""

    def __init__(self, message: str, *, run_id: int | None = None):
        self.run_id = run_id
        super().__init__(message)


class BrokerUnavailable(RuntimeError):
    """The Celery broker refused or did not answer; the playbook run is recorded as
    failed. Defined here rather than with the playbooks so that the CLI can report it
    without importing them (and YAML, HTTP and Celery with them) at every start."""


class DamagedFile(RuntimeError):
    """A file the engine keeps in its data dir (a model version, a model's PROMOTED
    pointer) cannot be read or was edited into something it cannot use; the message
    names the file, what is wrong and how to repair it. Not the request's fault: the
    CLI exits 1, the API answers 500, and nothing falls back silently to defaults."""
