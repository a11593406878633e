"""Runtime plumbing every service shares: the Redis connection and consumer-group
helpers, the service loop, the embedded server, logging and the clock.

It may import ``shared.contract`` (and ``shared.timing``), never configuration or a
service; services and configuration I/O import it.
"""
