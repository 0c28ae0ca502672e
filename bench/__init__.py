"""Benchmarks: `python -m bench` runs Tandem and the reference servers side by side."""
