"""The cyclic collector around bulk builds and a service's serving life."""

from __future__ import annotations

import gc
import weakref

from shared.runtime.collector import gc_paused, startup_frozen


class _Node:
    """A cycle's member."""

    def __init__(self) -> None:
        self.me = self


def test_a_serving_block_keeps_start_up_objects_out_of_collections_and_hands_them_back() -> None:
    node = _Node()
    alive = weakref.ref(node)
    with startup_frozen():
        assert gc.get_freeze_count() > 0
        del node
        gc.collect()
        assert alive() is not None  # frozen at start-up: no collection walks it
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None  # handed back, and collected as any other cycle


def test_a_paused_collector_is_enabled_again_after_the_build() -> None:
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
