"""Benchmarks: they print figures and ratios against same-run baselines; never run by the tests."""
