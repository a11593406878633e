"""The wire contract: what other systems rely on (DESIGN §2).

Event types and their codec, every key and stream name, the closed vocabularies
(priorities, severities), the read-model records every hash is read and written through,
the one decision record (why a slot or request did or did not run), and the Lua scripts
whose arguments and replies are part of the protocol between services. Everything here is
versioned with care: an external producer may depend on it. It may import
``shared.timing`` only; runtime plumbing, configuration and services import it.
"""
