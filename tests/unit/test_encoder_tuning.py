"""Fine-tuning the text encoder on co-viewed pairs (models/encoder_tuning.py)."""

from __future__ import annotations

import numpy as np
import pytest

from streamrec.models import encoder_tuning as et
from streamrec.models.text_encoder import TextEncoder

# arbitrary pairings: nothing in the pretrained model links the two sides
LEFT = ["red bicycle bell", "quantum chemistry textbook", "wool winter socks",
        "espresso coffee beans", "garden hose reel", "jazz piano vinyl", "dog chew toy",
        "lavender scented candle", "usb charging cable", "oak dining table",
        "silk scarf", "tennis racket"]
RIGHT = ["ceramic teapot", "hiking boots", "watercolour paint set", "desk lamp",
         "chess board", "yoga mat", "baby stroller", "fishing rod", "cookbook of soups",
         "alarm clock", "umbrella", "phone case"]


@pytest.fixture(scope="module")
def encoder():
    try:
        return TextEncoder(device="cpu")
    except RuntimeError as e:
        pytest.skip(str(e))


def mean_rank(enc: TextEncoder) -> float:
    a, b = enc.encode(LEFT), enc.encode(RIGHT)
    sims = a @ b.T
    return float(np.mean([(sims[i] > sims[i, i]).sum() for i in range(len(LEFT))]))


def test_training_on_pairs_pulls_each_pairs_texts_together(encoder):
    texts = {f"l{i}": t for i, t in enumerate(LEFT)} | {f"r{i}": t for i, t in enumerate(RIGHT)}
    pairs = [(f"l{i}", f"r{i}") for i in range(len(LEFT))]
    before = mean_rank(encoder)
    losses = et.fine_tune(encoder, texts, pairs, epochs=15, batch_size=6, lr=1e-4, seed=3)
    after = mean_rank(encoder)
    assert len(losses) == 15 * 2
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4])
    assert before > 2.0 and after < 0.5, (before, after)


def test_the_tuned_encoder_saves_and_loads(encoder, tmp_path):
    encoder.save(tmp_path)
    again = TextEncoder(tmp_path, device="cpu")
    assert np.allclose(again.encode(LEFT[:3]), encoder.encode(LEFT[:3]), atol=1e-5)


def test_cold_items_steps_and_hit_rate():
    events = [("u", "a", 1.0), ("u", "b", 2.0), ("v", "b", 3.0), ("v", "c", 4.0),
              ("w", "new", 5.0), ("w", "a", 6.0), ("x", "new", 7.0), ("x", "c", 8.0)]
    split = et.cold_split(events, 0.5)
    assert split.ts == 5.0 and split.cold == {"new"}
    assert et.cold_steps(events, split) == [("new", "a"), ("new", "c")]
    assert et.next_item_pairs(e for e in events if e[2] < split.ts) == {("a", "b"): 1,
                                                                          ("b", "c"): 1}
    ids = ["a", "b", "c", "new"]
    vecs = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])
    # new's nearest other item is a (0.8), then c (0.96)... by dot: c .96, a .8, b .6
    assert et.cold_start_hr(ids, vecs, [("new", "a"), ("new", "c")], k=1)[:1] == (0.5,)
    hr, se, n = et.cold_start_hr(ids, vecs, [("new", "a"), ("new", "c")], k=2)
    assert (hr, se, n) == (1.0, 0.0, 2)
