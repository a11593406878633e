"""Build a YAML document's data straight from the parser's events, without a node tree.

PyYAML composes the whole document into nodes (each with two marks) before constructing
any data: for a file of 100,000 tasks the nodes take about 6 KB per task, several times
the data they describe, and all of it is alive at once. Plain files (no anchors, aliases,
merge keys or custom tags) need none of that: :func:`load_data` builds the same data
from the event stream and lets each event go at once. Anything else raises
:class:`NeedsNodes`, and the caller parses again the usual way, so the result (and every
error, with its line) is exactly PyYAML's safe loading.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (tens of times faster), else the
pure-Python one: the same YAML, the same errors with their lines."""
_PLAIN_TAGS: Final = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_MERGE: Final = "tag:yaml.org,2002:merge"


class NeedsNodes(Exception):
    """The document uses a feature only the node-based loader handles (or is invalid)."""


def load_data(text: str) -> Any:
    """The single document in ``text`` as plain data (None when empty).

    Raises :class:`NeedsNodes` for anchors, aliases, merge keys, explicit tags, several
    documents and any YAML error: the node-based loader then gives the answer.
    """
    loader = LOADER(text)
    try:
        loader.get_event()  # stream start
        data = None
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # document start
            data = _value(loader, loader.get_event())
            loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise NeedsNodes("more than one document")
        return data
    except yaml.YAMLError as exc:
        raise NeedsNodes(str(exc)) from None
    finally:
        loader.dispose()


def _value(loader: Any, event: Any) -> Any:
    if getattr(event, "anchor", None) is not None or isinstance(event, yaml.AliasEvent):
        raise NeedsNodes("anchor or alias")
    if isinstance(event, yaml.ScalarEvent):
        return _scalar(loader, event)
    if event.tag not in _PLAIN_TAGS:
        raise NeedsNodes(f"tag {event.tag}")
    if isinstance(event, yaml.SequenceStartEvent):
        items = []
        while not loader.check_event(yaml.SequenceEndEvent):
            items.append(_value(loader, loader.get_event()))
        loader.get_event()
        return items
    mapping: dict[Any, Any] = {}
    while not loader.check_event(yaml.MappingEndEvent):
        key_event = loader.get_event()
        if not isinstance(key_event, yaml.ScalarEvent):
            raise NeedsNodes("a key that is not a scalar")
        mapping[_scalar(loader, key_event)] = _value(loader, loader.get_event())
    loader.get_event()
    return mapping


def _scalar(loader: Any, event: Any) -> Any:
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    construct = loader.yaml_constructors.get(tag)
    if construct is None or tag == _MERGE:
        raise NeedsNodes(f"tag {tag}")
    node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
    return construct(loader, node)
