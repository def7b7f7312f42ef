"""Duplicate persons: record linkage (batch) on DuckDB/Polars; no Django models here.

``features`` derives Vietnamese-aware matching keys; ``matching`` finds and scores pairs
(``find_pairs`` within one frame, ``link_pairs`` across two). Models, services and review
screens build on these.
"""
