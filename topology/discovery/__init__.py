"""Topology discovery: connectors that find nodes and edges, and the sync that stores them.

Each source (LLDP, NetBox, Kubernetes, a static inventory, alert co-occurrence) is a
small class with ``collect(current) -> Discovered`` that reads everything first and
writes nothing. :func:`topology.discovery.sync.sync` then merges identities against
the stored topology and upserts once, so a source that fails mid-run leaves the
stored topology as it was.
"""
