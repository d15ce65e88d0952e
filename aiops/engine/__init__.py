"""The pipeline: deduplicate → resolve entity → correlate → rank root causes."""
