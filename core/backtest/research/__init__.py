"""Walk-forward research over the sample data: `python -m core.backtest.research`
(`make research`). See core.backtest.research.cli."""
