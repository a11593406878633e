"""The reporter's periodic reports: when they are due, which replica makes them, where
they are stored and announced (``produce``). The report itself is ``shared.reports``."""
