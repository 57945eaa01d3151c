"""Outside baselines for ``streamrec evaluate``, judged by the same prequential rule.

:class:`RtrecBaseline` feeds the event stream to the ``rtrec`` package's SLIM model (an
optional dependency: ``pip install rtrec``). Each event enters rtrec's user-item matrix at
once (so a user's profile is always up to date, as our workers' user state is); the SLIM
item weights of the items touched since the last refit are refitted every ``fit_every``
events (rtrec refits the touched item columns, which is too slow to do per event). Every
event on an item new to its user (whose user has an earlier event) is judged, before it
is learned, against rtrec's top-K at that moment, minus everything the user already
interacted with.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from .prequential import Tally, bucket_of, judge


class RtrecBaseline:
    """rtrec SLIM fed event by event, fitted every ``fit_every`` events."""

    def __init__(self, k: int = 20, fit_every: int = 500) -> None:
        self.k = k
        self.fit_every = fit_every
        self.lists = 0
        self._served: set[str] = set()
        self.note = (f"rtrec {_version()} SLIM (defaults); user profiles updated per event, "
                     f"item weights refitted every {fit_every} events; in-process, not "
                     "through the broker")

    def run(self, events: Sequence[tuple[str, dict[str, Any]]], bucket_s: float,
            progress: bool = False, judge_from: float = 0.0) -> tuple[Tally, dict[int, Tally]]:
        from rtrec.models import SLIM

        logging.getLogger("rtrec").setLevel(logging.ERROR)
        model = SLIM()
        tally, curve = Tally(), {}
        seen: dict[str, set[str]] = {}
        since_fit, fitted = 0, False
        pending: list[tuple[str, str, float, float]] = []
        for _kind, e in tqdm(events, desc="rtrec       ", unit="ev", disable=not progress,
                            mininterval=1.0):
            user, item = e["user_id"], e["item_id"]
            mine = seen.get(user)
            if mine is not None and item not in mine and e["ts"] >= judge_from:
                # nothing to recommend before the first fit (rtrec cannot predict yet)
                top = [i for i in model.recommend(user, top_k=self.k + len(mine),
                                                  filter_interacted=True)
                       if i not in mine][: self.k] if fitted else []
                self.lists += 1
                self._served.update(top)
                result = judge(item, top, self.k)
                tally.add(*result)
                curve.setdefault(bucket_of(e["ts"], bucket_s), Tally()).add(*result)
            seen.setdefault(user, set()).add(item)
            # the profile now, the weights of the touched items at the next refit (rtrec's
            # own BaseModel.fit split in two: add_interactions, then _fit_recorded); an item
            # the fitted model does not know waits for the refit (rtrec cannot score a
            # profile with items newer than its item weights)
            x = (user, item, e["ts"], 1.0)
            if model.item_ids.get_id(item) is None:
                pending.append(x)
            else:
                model.add_interactions([x], record_interactions=True)
            since_fit += 1
            if since_fit >= self.fit_every:
                model.add_interactions(pending, record_interactions=True)
                model._fit_recorded(progress_bar=False)
                pending, since_fit, fitted = [], 0, True
        return tally, dict(sorted(curve.items()))

    def coverage(self, catalog_items: int) -> float:
        return len(self._served) / max(catalog_items, 1)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("rtrec")
    except PackageNotFoundError:
        return "(not installed)"
