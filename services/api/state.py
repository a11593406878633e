"""Typed application state (``web.AppKey``): what every handler may read."""

from __future__ import annotations

from aiohttp import web

from services.api.auth import Auth
from shared.config.models import Config
from shared.contract.keys import Keys
from shared.runtime.clock import Clock
from shared.runtime.redis import Redis

REDIS: web.AppKey[Redis] = web.AppKey("redis", Redis)
KEYS: web.AppKey[Keys] = web.AppKey("keys", Keys)
CONFIG: web.AppKey[Config] = web.AppKey("config", Config)
CLOCK: web.AppKey[Clock] = web.AppKey("clock", Clock)
AUTH: web.AppKey[Auth] = web.AppKey("auth", Auth)
