"""Benchmark scripts: `make bench` (python bench/run.py) writes docs/benchmarks.md."""
