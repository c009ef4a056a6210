"""`python -m bot` (or `make run`) as a real process for the process tests: a clean
environment, output in a file, the replay settings that need no network but the fake Bot
API's."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings
from tests.fakes.bot_api import FakeBotApi

ROOT = Path(__file__).resolve().parents[2]
_RUNS = itertools.count()


def clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env["PYTHONPATH"] = str(ROOT)
    env.update(values)
    return env


def replay_env(fake: FakeBotApi, database: Path, **extra: str) -> dict[str, str]:
    """A paper bot on replayed candles (no exchange), talking to `fake`."""
    values = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "DATABASE_PATH": str(database),
        "MARKET_DATA": "replay",
        "REPLAY_DIR": str(ROOT / "data" / "ohlcv"),
        "REPLAY_START": "2019-03-08T06:30:00Z",
        "REPLAY_SPEED": "600",
        "SCAN_INTERVAL_SECONDS": "1",
        "SYMBOLS": "BTC/USD",
        "ML_FILTERS": "false",  # loading the models costs seconds; the process tests are about the process
    }
    return clean_env(**(values | extra))


class BotProcess:
    """The bot's process with its output in a file: a pipe nobody reads until the end fills
    up with DEBUG lines and stops the bot in the middle of a write."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process, self.log = process, log

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def send_signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    async def communicate(self) -> tuple[bytes, bytes]:
        """Wait for the end; (b"", everything it wrote)."""
        await self.process.wait()
        return b"", self.log.read_bytes()


async def run_bot(
    env: dict[str, str], cwd: Path, *command: str, new_group: bool = False, logs: Path | None = None
) -> BotProcess:
    """`python -m bot` (or `command`) in `cwd`, its output in `logs` (default: `cwd`);
    `new_group`: in a process group of its own."""
    log = (logs or cwd) / f"bot-{next(_RUNS)}.log"
    argv = command or (sys.executable, "-m", "bot")
    with log.open("wb") as out:  # noqa: ASYNC230 - opening a local file for the child's output
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=new_group
        )
    return BotProcess(process, log)


def make_unwritable(path: Path) -> None:
    """A file its owner cannot write: chmod for a normal user; root ignores permissions, so
    the file is made immutable (chattr +i) instead, or the test is skipped."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)  # noqa: S607 - a test tool
    if done.returncode != 0:
        pytest.skip(f"cannot make a file read-only for root here: {done.stderr.decode().strip()}")


def make_writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)  # noqa: S607
    else:
        path.chmod(0o644)
