"""Connecting: waits with backoff for a late server, fails clearly when none comes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shared.contract.keys import Keys
from shared.runtime.embedded import EmbeddedRedis, free_port
from shared.runtime.redis import connect


async def test_connect_waits_for_a_server_that_starts_late(tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedRedis(tmp_path, port=port, appendonly=False)
    loop = asyncio.get_running_loop()
    loop.call_later(0.5, server.start)
    try:
        r = await asyncio.wait_for(connect(f"redis://127.0.0.1:{port}", wait_s=10), 15)
        assert await r.ping()
        await r.aclose()
    finally:
        server.stop()


async def test_connect_gives_up_with_a_clear_error() -> None:
    url = f"redis://user:pw123@127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError) as info:
        await connect(url, wait_s=0.3)
    assert "cannot reach Redis at redis://user:***@127.0.0.1" in str(info.value)
    assert "pw123" not in str(info.value)


def test_namespace_in_braces_is_a_cluster_hash_tag() -> None:
    keys = Keys("{maintenance}")
    assert keys.triggers == "{maintenance}:stream:triggers"
    assert keys.due("critical") == "{maintenance}:stream:due:critical"
    assert keys.fired("backup", 1_700_000_000_000) == "{maintenance}:fired:backup:1700000000000"


@pytest.mark.parametrize("bad", ["", "a b", "x:y", "{unclosed"])
def test_bad_namespaces_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="namespace"):
        Keys(bad)


def test_unknown_priority_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown priority 'urgent'"):
        Keys().due("urgent")
