"""Errors of the streams package, each with a message that says what to do."""

from __future__ import annotations

from pathlib import Path


class StreamrecError(Exception):
    """Base class of streamrec's own errors."""


class SettingsError(StreamrecError, ValueError):
    """A setting has a bad value; the message names the env var and what is allowed."""


class DataMissing(StreamrecError, FileNotFoundError):
    """The movielens-small dataset folder was not found."""

    URL = "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip"

    def __init__(self, path: Path | None) -> None:
        where = f"{path} has no ratings.csv" if path else (
            "no shared/data/movielens-small found above the working directory")
        super().__init__(
            f"movielens-small dataset not found: {where}. Set STREAMREC_DATA_DIR (or --data-dir) "
            f"to the folder holding ratings.csv and movies.csv, or run `streamrec download` to "
            f"fetch it from {self.URL}.")


class EmbeddedStartError(StreamrecError, RuntimeError):
    """An embedded server (Tansu broker, redis-server) could not be started."""
