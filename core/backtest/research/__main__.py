"""`python -m core.backtest.research` (core.backtest.research.cli)."""

from core.backtest.research.cli import main

raise SystemExit(main())
