"""Signed model snapshots: HMAC-SHA256 over the pickle, checked before it is unpickled.

A snapshot is written to Redis by the learner and read by every worker; anyone who can
write to that Redis could put a crafted pickle there, and unpickling runs code. So the
bytes are ``MAGIC + HMAC-SHA256(key, body) + body`` and :func:`loads` unpickles only a
body whose tag checks under the configured key (``STREAMREC_SNAPSHOT_KEY``).

>>> blob = dumps({"version": 3}, b"k" * 32)
>>> loads(blob, b"k" * 32)
{'version': 3}
>>> try:
...     loads(blob, b"x" * 32)
... except SnapshotRejected as e:
...     print(e)
snapshot signature does not match STREAMREC_SNAPSHOT_KEY
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
from typing import Any

MAGIC = b"SRS1"
TAG_BYTES = 32
MIN_KEY_BYTES = 16


class SnapshotRejected(ValueError):
    """Bytes that are not a snapshot signed with this key (nothing was unpickled)."""


def _key(key: bytes | str) -> bytes:
    k = key.encode() if isinstance(key, str) else key
    if len(k) < MIN_KEY_BYTES:
        raise ValueError(f"a snapshot key needs at least {MIN_KEY_BYTES} bytes "
                         "(STREAMREC_SNAPSHOT_KEY)")
    return k


def sign(body: bytes, key: bytes | str) -> bytes:
    return MAGIC + hmac.new(_key(key), body, hashlib.sha256).digest() + body


def verify(blob: bytes, key: bytes | str) -> bytes:
    """The body of a signed ``blob``; SnapshotRejected unless its tag checks."""
    head = len(MAGIC) + TAG_BYTES
    if len(blob) < head or not blob.startswith(MAGIC):
        raise SnapshotRejected("not a signed snapshot (no streamrec signature header)")
    tag, body = blob[len(MAGIC):head], blob[head:]
    if not hmac.compare_digest(tag, hmac.new(_key(key), body, hashlib.sha256).digest()):
        raise SnapshotRejected("snapshot signature does not match STREAMREC_SNAPSHOT_KEY")
    return body


def dumps(obj: Any, key: bytes | str) -> bytes:
    return sign(pickle.dumps(obj, protocol=5), key)


def loads(blob: bytes, key: bytes | str) -> Any:
    return pickle.loads(verify(blob, key))  # noqa: S301 - the signature checked above
