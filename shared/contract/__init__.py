"""The wire contract: what other systems rely on (DESIGN §2).

Event types and their codec, every key and stream name, and the Lua scripts whose
arguments and replies are part of the protocol between services. Everything here is
versioned with care: an external producer may depend on it. It may import
``shared.timing`` only; runtime plumbing, configuration and services import it.
"""
