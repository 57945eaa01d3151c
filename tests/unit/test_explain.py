"""Explanations: each reason comes from the signal that ranked the item (no server)."""

from __future__ import annotations

from streamrec.models.explain import HEADS, explain
from streamrec.models.pipeline import RankConfig, RankInputs, Rows, candidates, rank
from streamrec.models.userstate import UserState

INFO = {"tent": {"title": "Two-person tent"}, "stove": {"title": "Camp stove"},
        "mat": {"price": 15.0, "prev_price": 20.0}, "lamp": {"price": 12.0, "prev_price": 10.0}}


def test_each_reason_names_its_signal():
    covis = {"tent": [("mat", 12.5), ("lamp", 3.0)], "stove": [("mat", 40.0), ("pan", 9.0)]}
    content = {"tent": [("tarp", 0.91)]}
    got = explain(["mat", "pan", "tarp", "lamp", "gps"], ["tent", "stove"], covis,
                  [("gps", 5.0), ("pan", 2.0)], content, INFO,
                  scored={"mat": 0.4, "pan": None},
                  transformer="seq-abc", explored={"gps"})
    assert got[0] == ["viewed with Two-person tent (co-visits 12.5)",   # the newest head
                      "price dropped 25%", "transformer seq-abc"]
    assert got[1] == ["viewed with Camp stove (co-visits 9.0)",   # the transformer did not
                      "trending #2"]                             # know it
    assert got[2] == ["text similar to Two-person tent (0.91)"]
    assert got[3] == ["viewed with Two-person tent (co-visits 3.0)"]  # a rise
    assert got[4] == ["trending #1", "explored (Thompson sampling)"]


def test_the_search_is_bounded_to_the_newest_items():
    heads = [f"h{n}" for n in range(HEADS + 1)]
    covis = {heads[-1]: [("old", 1.0)]}       # only the oldest head's row holds it
    assert explain(["old"], heads, covis, (), {}, {}) == [[]]
    assert explain(["old"], heads[1:], covis, (), {}, {}) == [["viewed with item "
                                                               f"{heads[-1]} (co-visits 1.0)"]]


def test_lists_carry_reasons_for_their_top_k_unless_switched_off():
    st = UserState.from_json(None)
    st.observe("tent", "view", recent_cap=10, seen_cap=10)
    rows = Rows(covis={"tent": [("mat", 2.0), ("lamp", 1.0)]}, trending=[("gps", 1.0)])
    for explain_on in (True, False):
        cfg = RankConfig(k=2, explain=explain_on)
        plan = candidates(cfg, {"u": st}, rows, {"u": None})
        out = rank(cfg, plan, RankInputs(info=INFO, now=0.0, rows=rows))["u"]
        assert out.top == ["mat", "lamp"]
        assert out.reasons == ([["viewed with Two-person tent (co-visits 2.0)",
                                 "price dropped 25%"],
                                ["viewed with Two-person tent (co-visits 1.0)"]]
                               if explain_on else [])
