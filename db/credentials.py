"""Users' exchange API keys, encrypted at rest with Fernet (cryptography).

The key and the secret are encrypted together with the user id and the exchange id, so a
token copied onto another user's row does not decrypt as theirs. Plain keys exist only in
memory, on their way to a ccxt client; they are never logged and never leave this module
except through `credentials()`.
"""

from __future__ import annotations

import json
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.errors import ConfigError
from core.ports import Clock
from db.database import to_db_time
from db.sql import SqlDatabase

log = logging.getLogger(__name__)


def make_cipher(keys: str) -> MultiFernet:
    """ENCRYPTION_KEY as a cipher: one Fernet key, or several separated by commas (the first
    encrypts, every one decrypts, so a key can be rotated)."""
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    if not parts:
        raise ConfigError("ENCRYPTION_KEY is empty")
    try:
        return MultiFernet([Fernet(part.encode()) for part in parts])
    except (ValueError, TypeError):
        raise ConfigError("ENCRYPTION_KEY is not a Fernet key (32 url-safe base64-encoded bytes)") from None


class CredentialStore:
    """Encrypted API keys per user for one exchange; the gateway's CredentialsProvider."""

    def __init__(self, db: SqlDatabase, clock: Clock, cipher: MultiFernet, exchange: str) -> None:
        self._db = db
        self._clock = clock
        self._cipher = cipher
        self._exchange = exchange

    async def save(self, user_id: int, api_key: str, secret: str) -> None:
        """Store (or replace) the user's key for this exchange."""
        payload = json.dumps({"user": user_id, "exchange": self._exchange, "key": api_key, "secret": secret})
        token = self._cipher.encrypt(payload.encode()).decode()
        now = to_db_time(self._clock.now())
        await self._db.execute(
            "INSERT INTO credentials (user_id, exchange, token, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (user_id, exchange) DO UPDATE SET token = excluded.token, updated_at = excluded.updated_at",
            (user_id, self._exchange, token, now, now),
        )

    async def delete(self, user_id: int) -> bool:
        """Forget the user's key; False if there was none."""
        changed = await self._db.execute(
            "DELETE FROM credentials WHERE user_id = ? AND exchange = ?", (user_id, self._exchange)
        )
        return changed > 0

    async def has(self, user_id: int) -> bool:
        row = await self._db.fetchone(
            "SELECT 1 FROM credentials WHERE user_id = ? AND exchange = ?", (user_id, self._exchange)
        )
        return row is not None

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        """(api_key, secret), or None when the user has not connected (or the stored token
        cannot be read with ENCRYPTION_KEY: logged, and treated as not connected)."""
        row = await self._db.fetchone(
            "SELECT token FROM credentials WHERE user_id = ? AND exchange = ?", (user_id, self._exchange)
        )
        if row is None:
            return None
        try:
            payload = json.loads(self._cipher.decrypt(str(row[0]).encode()))
        except InvalidToken:
            log.error("credentials of user %s cannot be decrypted with ENCRYPTION_KEY", user_id)
            return None
        if payload.get("user") != user_id or payload.get("exchange") != self._exchange:
            log.error("credentials row of user %s belongs to another user or exchange", user_id)
            return None
        return str(payload["key"]), str(payload["secret"])
