"""Remediation playbooks: operator-run steps (HTTP calls, commands) for an incident,
run by Celery workers or, without a broker, by the process that asked
(docs/playbooks.md)."""
