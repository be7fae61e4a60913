"""Batch scoring: files in, files out, every row accounted for (local processes or Spark)."""
