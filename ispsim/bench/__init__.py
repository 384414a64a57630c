"""Benchmarks: speed benchmarks now; the method harness, metrics and leaderboards build on this."""
