"""Embedded dev servers (Tansu broker, redis-server) and the demo."""
