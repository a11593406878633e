"""Optional encryption of backup archives: AES-256-GCM (``cryptography``), streamed.

Layout of an encrypted archive: ``MAGIC`` (8 bytes) · nonce (12) · ciphertext · tag (16).
The magic is authenticated as associated data. Decryption streams into a file the caller
owns and only the final tag check says whether that file may be used: on a wrong key or
any flipped byte :class:`ArchiveError` is raised and the caller must discard the output.

The key comes from an environment variable named in the task's params (base64 or hex of
32 bytes). Neither the key nor the variable's value ever appears in an error or a log.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from services.executor.handlers.base import HandlerError

MAGIC: Final = b"WKBAK\x01\x00\x00"
NONCE_BYTES: Final = 12
TAG_BYTES: Final = 16
KEY_BYTES: Final = 32
CHUNK: Final = 1 << 20


class ArchiveError(HandlerError):
    """A backup archive cannot be trusted or read (the message says why)."""


def key_from_env(name: str, environ: Mapping[str, str] | None = None) -> bytes:
    """The 32-byte key held (base64 or hex) in environment variable ``name``."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        raise HandlerError(f"encryption key variable {name!r} is not set")
    for decode in (bytes.fromhex, base64.b64decode):
        try:
            key = decode(value.strip())
        except (ValueError, binascii.Error):
            continue
        if len(key) == KEY_BYTES:
            return key
    raise HandlerError(f"encryption key variable {name!r} must hold 32 bytes as base64 or hex")


def is_encrypted(path: Path) -> bool:
    """Whether ``path`` starts with the encrypted-archive magic."""
    with path.open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def encrypt_file(src: Path, dest: Path, key: bytes) -> None:
    """Encrypt ``src`` into ``dest`` (blocking); ``dest`` is fsynced."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(MAGIC)
    with src.open("rb") as plain, dest.open("wb") as out:
        out.write(MAGIC + nonce)
        while chunk := plain.read(CHUNK):
            out.write(encryptor.update(chunk))
        out.write(encryptor.finalize() + encryptor.tag)
        out.flush()
        os.fsync(out.fileno())


def decrypt_file(src: Path, dest: Path, key: bytes) -> None:
    """Decrypt ``src`` into ``dest``; :class:`ArchiveError` (and ``dest`` removed) unless
    the tag verifies."""
    size = src.stat().st_size
    if size < len(MAGIC) + NONCE_BYTES + TAG_BYTES:
        raise ArchiveError(f"{src.name}: too short to be an encrypted archive")
    with src.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise ArchiveError(f"{src.name}: not an encrypted archive (bad magic)")
        nonce = f.read(NONCE_BYTES)
        f.seek(size - TAG_BYTES)
        tag = f.read(TAG_BYTES)
        f.seek(len(MAGIC) + NONCE_BYTES)
        decryptor = Cipher(algorithms.AES(key), modes.GCM(nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(MAGIC)
        left = size - TAG_BYTES - len(MAGIC) - NONCE_BYTES
        try:
            with dest.open("wb") as out:
                while left > 0:
                    chunk = f.read(min(CHUNK, left))
                    left -= len(chunk)
                    out.write(decryptor.update(chunk))
                out.write(decryptor.finalize())
        except InvalidTag:
            dest.unlink(missing_ok=True)
            raise ArchiveError(
                f"{src.name}: authentication failed (wrong key, or the archive was altered)"
            ) from None
