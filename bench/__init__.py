"""Benchmarks: gochat against a raw websockets reference (python -m bench)."""
