"""Every user-facing string, in English and Russian. The catalogues are data, one TOML file
per language in bot/locales/ (same keys, same placeholders), read once at import. Messages
use Telegram HTML; the renderer escapes every parameter before it is put in."""

from __future__ import annotations

import html
import string
import tomllib
from pathlib import Path
from typing import Any

LANGUAGES = ("en", "ru")
DEFAULT_LANGUAGE = "en"
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def language_for(code: str | None) -> str:
    """Telegram's language_code ('ru', 'ru-RU', 'en-US' ...) to a catalogue language."""
    if code and code.lower().split("-")[0] in LANGUAGES:
        return code.lower().split("-")[0]
    return DEFAULT_LANGUAGE


def load_catalogue(directory: Path = LOCALES_DIR) -> dict[str, dict[str, str]]:
    """Message key -> {language: template}, from `<language>.toml` for every language."""
    catalogue: dict[str, dict[str, str]] = {}
    for language in LANGUAGES:
        with (directory / f"{language}.toml").open("rb") as file:
            messages = tomllib.load(file)
        for key, template in messages.items():
            if not isinstance(template, str):
                raise ValueError(f"{language}.toml: {key} is not a string")
            catalogue.setdefault(key, {})[language] = template
    return catalogue


CATALOGUE: dict[str, dict[str, str]] = load_catalogue()


class _Params(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        raise KeyError(f"message parameter {key!r} missing")


def t(language: str, key: str, *, escape: bool = True, **params: Any) -> str:
    """The catalogue message `key` in `language`, with `params` HTML-escaped and put in."""
    entry = CATALOGUE[key]
    template = entry.get(language) or entry[DEFAULT_LANGUAGE]
    values = {k: html.escape(str(v), quote=False) if escape else v for k, v in params.items()}
    return template.format_map(_Params(values))


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
