"""`python -m ml.backtest`: `python -m core.backtest` with `--models DIR` (the ML filters
in the loop). Core imports no ml, so this small root hands the registry's loader in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.backtest.cli import main as backtest_main
from core.errors import AtraError
from core.ports import SignalModel
from ml.registry import load_models


def _load(path: Path) -> Sequence[SignalModel]:
    try:
        return load_models(path)
    except AtraError as exc:
        raise SystemExit(f"--models {path}: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    return backtest_main(argv, load_models=_load)


if __name__ == "__main__":
    raise SystemExit(main())
