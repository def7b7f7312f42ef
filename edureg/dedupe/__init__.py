"""Duplicate persons (issue 6).

``features`` (Vietnamese-aware matching keys) and ``matching`` (batch record linkage on
DuckDB/Polars: ``find_pairs`` within one frame, ``link_pairs`` across two) are pure: no Django
settings, no ORM. Models, services and review screens build on them.
"""
