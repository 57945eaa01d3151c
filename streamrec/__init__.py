"""streamrec: a streaming real-time recommender.

The repository's top-level folders are mapped into this namespace by pyproject.toml:
``streams/`` -> ``streamrec.streams``, ``models/`` -> ``streamrec.models``,
``state/`` -> ``streamrec.state``, ``bench/`` -> ``streamrec.bench``.
"""

__version__ = "0.1.0"
