"""Modules the benchmarks load into the processes they start (not benchmarks themselves:
``make bench`` runs only ``bench/*.py``)."""
