"""Backtests: recorded or simulated metric points replayed through a detector configuration, scored on
labelled incidents, with an HTML report (``telewatch backtest``)."""
