"""Log lines as text, or as one JSON object per line (``STREAMREC_LOG_FORMAT=json``, made
by python-json-logger) for a log pipeline to index. Fields passed with ``extra=`` become
keys of the object: a rejected event's log line carries its topic, partition, offset and
reason.

>>> cfg = logging_config("warning", "json")
>>> cfg["root"]["level"], cfg["formatters"]["default"]["()"]
('WARNING', 'pythonjsonlogger.json.JsonFormatter')
"""

from __future__ import annotations

import logging.config
from typing import Any

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"     # the JSON object's first keys


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the root logger: ``level``, ``fmt`` "text" or
    "json", to standard error."""
    formatter: dict[str, Any] = (
        {"()": "pythonjsonlogger.json.JsonFormatter", "format": FIELDS,
         "rename_fields": {"levelname": "level", "asctime": "time", "name": "logger"}}
        if fmt == "json" else {"format": TEXT})
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"default": formatter},
            "handlers": {"default": {"class": "logging.StreamHandler",
                                     "formatter": "default", "stream": "ext://sys.stderr"}},
            "root": {"level": level.upper(), "handlers": ["default"]}}


def setup(level: str, fmt: str) -> None:
    """Configure this process's logging (the CLI does, before a role starts)."""
    logging.config.dictConfig(logging_config(level, fmt))
