"""initData as Telegram makes it, computed here from Telegram's documented algorithm with
hmac and hashlib (never with webapp.auth, which is what the tests check)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote, urlencode


def sign_init_data(
    token: str,
    user_id: int,
    *,
    language_code: str = "en",
    first_name: str = "Alice",
    auth_date: float | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    """The query string Telegram hands a Mini App: the fields and their `hash`."""
    user = json.dumps(
        {"id": user_id, "first_name": first_name, "language_code": language_code, "allows_write_to_pm": True},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    fields = {
        "query_id": f"AAH{user_id}test",
        "user": user,
        "auth_date": str(int(auth_date if auth_date is not None else time.time())),
        **(extra or {}),
    }
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


def tma(init_data: str) -> dict[str, str]:
    return {"Authorization": f"tma {init_data}"}
