"""Routing: which alerts go where, and which are muted (Alertmanager's route tree, inhibit rules, silences, time intervals)."""
