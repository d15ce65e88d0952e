"""aiops: alert correlation and root-cause engine.

The package holds the engine (models, pipeline, correlation, root-cause ranking,
storage, API and CLI). Topology lives in the sibling package ``topology`` and the
adapters to outside systems in ``connectors``; both depend on ``aiops.models``
and never the other way round.
"""

__version__ = "0.1.0"
