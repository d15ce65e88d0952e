"""Resolved tickets: stored, linked to the incidents they were about, used for remediation.

``tables`` declares the two tables, ``store`` writes and reads them, ``linker``
scores ticket ↔ incident pairs, ``recommend`` turns the promoted remediation model
into ranked actions for an incident.
"""
