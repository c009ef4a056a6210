"""The message catalogues (bot/locales/<language>.toml) parse, hold the same keys in every
language with the same placeholders, and are what t() renders."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path

import pytest

from bot.i18n import CATALOGUE, DEFAULT_LANGUAGE, LANGUAGES, LOCALES_DIR, load_catalogue, placeholders, t


def _file(language: str) -> dict[str, object]:
    with (LOCALES_DIR / f"{language}.toml").open("rb") as file:
        return tomllib.load(file)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalogue_parses_to_strings_only(language: str) -> None:
    messages = _file(language)
    assert len(messages) > 100
    assert all(isinstance(text, str) and text.strip() for text in messages.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_the_same_keys(language: str) -> None:
    assert set(_file(language)) == set(_file(DEFAULT_LANGUAGE))


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_message_in_every_language_with_same_placeholders(key: str) -> None:
    entry = CATALOGUE[key]
    assert set(entry) == set(LANGUAGES)
    assert all(entry[lang].strip() for lang in LANGUAGES)
    assert placeholders(entry["en"]) == placeholders(entry["ru"])
    for lang in LANGUAGES:  # named, plain fields only: no {0}, no {x.attr}, no {x!r}
        for _, name, spec, conversion in string.Formatter().parse(entry[lang]):
            assert name is None or (name.isidentifier() and not spec and conversion is None), (lang, name)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_renders_with_its_placeholders(language: str) -> None:
    for key, entry in CATALOGUE.items():
        params = {name: f"<{name}>" for name in placeholders(entry[language])}
        text = t(language, key, **params)
        assert all(f"&lt;{name}&gt;" in text for name in params)  # escaped and put in


def test_catalogue_is_read_from_the_files() -> None:
    assert CATALOGUE["side_long"] == {"en": "LONG", "ru": "ЛОНГ"}
    assert set(CATALOGUE) == set(_file("en"))
    assert all(CATALOGUE[key]["ru"] == text for key, text in _file("ru").items())


def test_a_catalogue_with_a_non_string_value_is_refused(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('greeting = "hello"\n', encoding="utf-8")
    (tmp_path / "ru.toml").write_text("greeting = 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="ru.toml: greeting"):
        load_catalogue(tmp_path)


def test_a_missing_catalogue_file_stops_the_import(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('greeting = "hello"\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        load_catalogue(tmp_path)
