"""Benchmarks: each measures hookline against a baseline measured in the same run (see README)."""
