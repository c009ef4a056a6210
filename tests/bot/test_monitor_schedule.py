"""The monitor's job follows the market clock: in replay its interval is the setting over
REPLAY_SPEED (at least half a wall-clock second), so replay manages positions on live's grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.jobs import monitor_job, schedule_jobs
from core.settings import Settings

TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


class RecordingQueue:
    """Stands in for PTB's JobQueue: records what would be scheduled."""

    def __init__(self) -> None:
        self.jobs: dict[str, tuple[Any, float]] = {}

    def run_repeating(self, callback: Any, *, interval: float, first: float, name: str) -> None:
        self.jobs[name] = (callback, interval)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)


def monitor_interval(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]) -> float:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    if env.get("MARKET_DATA") == "replay":
        monkeypatch.setenv("REPLAY_DIR", str(tmp_path))
        monkeypatch.setenv("REPLAY_START", "2024-01-01T00:00:00+00:00")
    queue = RecordingQueue()
    schedule_jobs(queue, Settings.load(env_file=None), retrain=None, save_replay_clock=None)  # type: ignore[arg-type]
    callback, interval = queue.jobs["monitor"]
    assert callback is monitor_job
    return interval


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MONITOR_INTERVAL_SECONDS": "30"}, 30.0),  # live: the setting, wall clock = market clock
        ({"MONITOR_INTERVAL_SECONDS": "30", "MARKET_DATA": "replay", "REPLAY_SPEED": "10"}, 3.0),  # 30 s / 10
        ({"MONITOR_INTERVAL_SECONDS": "30", "MARKET_DATA": "replay", "REPLAY_SPEED": "60"}, 0.5),  # 30 s / 60
        ({"MONITOR_INTERVAL_SECONDS": "30", "MARKET_DATA": "replay", "REPLAY_SPEED": "3600"}, 0.5),  # floor
        ({"MONITOR_INTERVAL_SECONDS": "0.2", "MARKET_DATA": "replay", "REPLAY_SPEED": "60"}, 0.2),  # tiny
    ],
)
def test_the_replay_monitor_interval_scales_with_replay_speed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], expected: float
) -> None:
    assert monitor_interval(monkeypatch, tmp_path, env) == pytest.approx(expected)
