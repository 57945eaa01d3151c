"""A River model's per-name parameters copied into NumPy rows, for scoring many at once.

River keeps a weight and a latent vector per feature (or item) name in dicts; scoring a
list of 100 candidates with them means hundreds of dict reads and an array built from a
list of small arrays, per list. :class:`ParamRows` gives each name one row of a weight
array ``w`` and a latent matrix ``v`` the first time it is asked for, and keeps the rows
equal to the model: the model's owner calls :meth:`ParamRows.touch` with the names each
update wrote, and the touched rows are read again before the next lookup. A name the
model does not hold has a row of zeros, filled in once the model learns it.

>>> params = {"a": (0.5, np.array([1.0, 2.0]))}
>>> rows = ParamRows(2, params.get)
>>> r = rows.rows(["a", "b"]); rows.w[r].tolist(), rows.v[r].tolist()
([0.5, 0.0], [[1.0, 2.0], [0.0, 0.0]])
>>> params["b"] = (-1.0, np.array([3.0, 0.0])); rows.touch(["b"])
>>> rows.w[rows.rows(["b", "a"])].tolist()
[-1.0, 0.5]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

Read = Callable[[str], "tuple[float, np.ndarray | None] | None"]


class ParamRows:
    """Rows of ``w`` (n,), ``v`` (n, factors) and ``has_v`` (n,), one per name asked for
    so far; ``read`` gives a name's (weight, latent vector or None) as the model holds it
    now, or None when it holds neither."""

    def __init__(self, factors: int, read: Read) -> None:
        self.factors = factors
        self._read = read
        self.index: dict[str, int] = {}
        self.w = np.zeros(64)
        self.v = np.zeros((64, factors))
        self.has_v = np.zeros(64, dtype=bool)     # the model holds a latent vector
        self._dirty: set[str] = set()

    def touch(self, names: Iterable[str]) -> None:
        """The model changed these names' parameters: their rows are read again."""
        self._dirty.update(names)

    def rows(self, names: Iterable[str]) -> list[int]:
        """The row of each name (added when new), every row equal to the model's now."""
        if self._dirty:
            self._sync()
        index = self.index
        try:
            return [index[k] for k in names]
        except KeyError:
            return [index[k] if k in index else self._add(k) for k in names]

    def _sync(self) -> None:
        for k in self._dirty:
            r = self.index.get(k)
            if r is not None:
                self._fill(r, k)
        self._dirty.clear()

    def _add(self, name: str) -> int:
        r = len(self.index)
        if r == len(self.w):
            self.w = np.concatenate([self.w, np.zeros(r)])
            self.v = np.concatenate([self.v, np.zeros((r, self.factors))])
            self.has_v = np.concatenate([self.has_v, np.zeros(r, dtype=bool)])
        self.index[name] = r
        self._fill(r, name)
        return r

    def _fill(self, r: int, name: str) -> None:
        got = self._read(name)
        w, v = got if got is not None else (0.0, None)
        self.w[r] = w
        self.v[r] = v if v is not None else 0.0
        self.has_v[r] = v is not None


class HasParamRows:
    """A model whose per-name parameters are also kept as :class:`ParamRows`: it says how
    many factors it has (``n_factors``) and how to read one name's (``_params``), and
    calls :meth:`_touched` with the names each update wrote. The rows stay out of pickles
    (snapshots): they are made again on first use."""

    n_factors: int

    def _params(self, name: str) -> tuple[float, np.ndarray | None] | None:
        raise NotImplementedError

    def param_rows(self) -> ParamRows:
        rows = self.__dict__.get("_rows")
        if rows is None:
            rows = self.__dict__["_rows"] = ParamRows(self.n_factors, self._params)
        return rows

    def _touched(self, names: Iterable[str]) -> None:
        rows = self.__dict__.get("_rows")
        if rows is not None:
            rows.touch(names)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_rows"}

