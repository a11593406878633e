"""Headless Chromium for browser tests: Debian's ``chromium`` driven by Playwright.

Browser builds cannot be downloaded here, so Playwright launches the system browser
through ``executable_path``. A missing browser fails loudly with the command that
installs it (``make test`` installs it on Debian when it is absent).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

from playwright.async_api import Browser, async_playwright

CHROMIUM: Final = Path("/usr/bin/chromium")
ARGS: Final = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking")
ARTIFACTS: Final = Path(__file__).resolve().parents[2] / "tmp" / "artifacts"
"""Where browser tests leave screenshots (git-ignored)."""


def require_chromium() -> Path:
    """The browser's path, or an error saying how to install it."""
    if not CHROMIUM.is_file():
        raise AssertionError(
            f"{CHROMIUM} is missing: the dashboard's browser test needs Debian's chromium "
            "(apt-get install -y chromium; `make test` does it when run as root)"
        )
    return CHROMIUM


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed afterwards."""
    path = require_chromium()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(path), args=list(ARGS))
        try:
            yield browser
        finally:
            await browser.close()
