"""Observability: Prometheus metrics (prediction log and evaluation come later)."""
