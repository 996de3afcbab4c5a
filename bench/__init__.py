"""Benchmarks: ``make bench`` (``python -m bench``).

Ratios against peers measured in the same run.
"""
