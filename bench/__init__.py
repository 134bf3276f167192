"""Benchmarks of the embedded deployment: `python -m bench --help` lists them; results in RESULTS.md."""
