"""PLAYBOOK picks the engine's playbook by name; an unknown name stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.assembly import _playbook
from core.errors import ConfigError
from core.settings import Settings

TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


def settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, telegram_bot_token=TOKEN, database_path=tmp_path / "db.sqlite3", **extra)  # type: ignore[call-arg]


def test_the_named_playbook_runs(tmp_path: Path) -> None:
    assert _playbook(settings(tmp_path)).name == "donchian"
    assert _playbook(settings(tmp_path, playbook="hybrid")).name == "hybrid"


def test_an_unknown_playbook_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PLAYBOOK 'moon' is unknown; choose one of donchian, hybrid"):
        _playbook(settings(tmp_path, playbook="moon"))
