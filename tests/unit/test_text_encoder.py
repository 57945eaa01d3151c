"""The pretrained encoder gives meaningful similarities on real catalog titles."""

import numpy as np
import pytest

from streamrec.models.content import ContentIndex
from streamrec.models.text_encoder import TextEncoder, item_text


@pytest.fixture(scope="module")
def encoder():
    try:
        return TextEncoder(device="cpu", batch_size=4)
    except RuntimeError as e:
        pytest.skip(str(e))


def test_sequels_are_closer_than_unrelated_films(encoder):
    titles = ["Toy Story (1995)", "Toy Story 2 (1999)", "Schindler's List (1993)",
              "Star Wars: Episode IV - A New Hope (1977)",
              "Star Wars: Episode V - The Empire Strikes Back (1980)"]
    v = encoder.encode(titles)
    assert v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    idx = ContentIndex(encoder.dim)
    idx.add([str(i) for i in range(5)], v)
    assert idx.similar("0", 1)[0][0] == "1"
    assert idx.similar("3", 1)[0][0] == "4"


def test_batching_does_not_change_embeddings(encoder):
    texts = [item_text(t, c) for t, c in [("Heat (1995)", "Action"), ("Up (2009)", "Animation"),
                                         ("Alien (1979)", "Horror"), ("Big (1988)", "Comedy"),
                                         ("Amélie (2001)", "Comedy")]]
    batched = encoder.encode(texts)
    single = np.vstack([encoder.encode([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)
