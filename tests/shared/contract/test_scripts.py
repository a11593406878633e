"""Script text: constants written into it as Lua literals read back as the values."""

from __future__ import annotations

from typing import Any

from shared.contract.emission import code_table
from shared.contract.scripts import constants, lua_literal, source
from shared.runtime.redis import Redis


async def test_a_lua_literal_reads_back_as_its_value(r: Redis) -> None:
    value = {"k": ['quote " back \\ new\nline', "é — ✓", 7], "n": {"x": 0}}
    got: Any = await r.eval(f"return cjson.encode({lua_literal(value)})", 0)
    assert got.decode() in (
        '{"k":["quote \\" back \\\\ new\\nline","é — ✓",7],"n":{"x":0}}',
        '{"n":{"x":0},"k":["quote \\" back \\\\ new\\nline","é — ✓",7]}',
    )


def test_the_emission_script_is_written_with_the_code_words() -> None:
    assert constants()["CODES"] == code_table()
    assert f"local CODES = {lua_literal(code_table())}\n" in source("schedule_emit")
    assert "--#constant" not in source("schedule_emit")
