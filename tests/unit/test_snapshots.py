"""Signed snapshots: a crafted pickle is refused before anything is unpickled."""

import os
import pickle

import pytest

from streamrec.state.snapshots import SnapshotRejected, dumps, loads, sign

KEY = b"0123456789abcdef0123456789abcdef"


class _Boom:
    """Unpickling this runs code (the attack the signature stops)."""

    def __reduce__(self):
        return (exec, ("import os; os.environ['STREAMREC_PWNED'] = '1'",))


def test_round_trip():
    assert loads(dumps({"model": [1, 2], "version": 4}, KEY), KEY) == {"model": [1, 2],
                                                                      "version": 4}


@pytest.mark.parametrize("blob", [
    pickle.dumps(_Boom()),                               # unsigned: the old format
    sign(pickle.dumps(_Boom()), b"another key of 32 bytes........."),   # wrong key
    dumps({"v": 1}, KEY)[:-1] + b"\x00",                 # body changed after signing
    b"",
])
def test_crafted_or_tampered_bytes_are_never_unpickled(blob, monkeypatch):
    monkeypatch.delenv("STREAMREC_PWNED", raising=False)
    with pytest.raises(SnapshotRejected):
        loads(blob, KEY)
    assert "STREAMREC_PWNED" not in os.environ


def test_short_keys_are_refused():
    with pytest.raises(ValueError, match="STREAMREC_SNAPSHOT_KEY"):
        dumps({}, b"short")
