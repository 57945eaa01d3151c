"""Offline tools: evaluate, replay, train, event logs and reports."""
