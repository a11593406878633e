"""Runtime plumbing every service shares: the Redis connection and consumer-group
helpers, the one consumer-group loop (``consume``), the service loop and its bounded
failure logging, the embedded server, logging and the clock.

It may import ``shared.contract`` (and ``shared.timing``), never configuration or a
service; services and configuration I/O import it.
"""
