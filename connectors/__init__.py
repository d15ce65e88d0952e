"""Adapters to outside systems: each turns a foreign payload into canonical objects.

Connectors are registered under the ``aiops.connectors`` entry point group, so a
user adds one in their own package without touching the engine.
"""
