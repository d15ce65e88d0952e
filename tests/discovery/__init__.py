"""Tests of topology discovery, entity resolution, the topology CLI and the Celery tasks."""
