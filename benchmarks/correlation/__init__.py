"""Correlation and root-cause quality benchmark: scenarios, metrics, baselines, harness.

Run ``python -m benchmarks.correlation.run`` from the repository root; see
docs/benchmarks.md (section "Correlation and root-cause quality") for what it measures.
"""
