"""`python -m core.backtest`: one backtest from the command line."""

from core.backtest.simulation import main

raise SystemExit(main())
