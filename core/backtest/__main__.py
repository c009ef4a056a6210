"""`python -m core.backtest`: one backtest from the command line (core.backtest.cli)."""

from core.backtest.cli import main

raise SystemExit(main())
