"""Whether the stream's users come back to items they viewed: the rule for re-showing them.

Shoppers often view an item again before they buy it; movie raters never rate one twice.
A list that never re-shows a viewed item is right for the second stream and wrong for the
first, so the worker measures it: the share of view events on an item their user had
already interacted with. Once enough views are counted (``min_views``) and that share
reaches the configured threshold (``STREAMREC_RESHOW_REPEAT_RATE``), viewed items may be
shown again; what was bought never is (``models/pipeline.candidates``).

>>> r = Revisits(min_views=4)
>>> for kind, repeat in [("view", False), ("view", True), ("click", True), ("view", False)]:
...     r.observe(kind, repeat)
>>> r.views, r.repeats, r.reshow(0.2)      # 3 views: not enough yet
(3, 1, False)
>>> r.observe("view", False); round(r.rate, 2), r.reshow(0.2), r.reshow(0.3), r.reshow(0.0)
(0.25, True, False, False)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Revisits:
    views: int = 0            # view events counted
    repeats: int = 0          # of them, on an item their user had interacted with before
    min_views: int = 1000     # views to count before the rate decides anything

    def observe(self, kind: str, repeat: bool) -> None:
        """One event; only views count (a click or purchase follows its own view)."""
        if kind == "view":
            self.views += 1
            self.repeats += repeat

    @property
    def rate(self) -> float:
        return self.repeats / self.views if self.views else 0.0

    def reshow(self, threshold: float) -> bool:
        """Re-show viewed items: the stream's repeat rate reached ``threshold`` (> 0)."""
        return threshold > 0 and self.views >= self.min_views and self.rate >= threshold
