"""The API role: lists, health, metrics, experiments over HTTP."""
