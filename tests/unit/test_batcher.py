import asyncio

import pytest
import torch

from streamrec.models.batcher import MicroBatcher
from streamrec.models.sequential import build


async def _serve(b, coros):
    task = asyncio.create_task(b.run())
    try:
        return await asyncio.gather(*coros)
    finally:
        await b.close()
        await task


async def test_batched_scores_equal_one_by_one():
    model = build(n_items=50, dim=32, layers=2, heads=4, max_len=12, seed=3).eval()
    g = torch.Generator().manual_seed(0)
    reqs = []
    for _ in range(40):   # varied lengths: padding must not change a request's scores
        n = int(torch.randint(1, 20, (1,), generator=g))
        c = int(torch.randint(1, 15, (1,), generator=g))
        reqs.append((torch.randint(1, 51, (n,), generator=g).tolist(),
                     torch.randint(1, 51, (c,), generator=g).tolist()))

    def batched(rs):
        scores = model.score([r[0] for r in rs], [r[1] for r in rs])
        return [scores[i, : len(r[1])] for i, r in enumerate(rs)]

    b = MicroBatcher(batched, max_batch=16, max_wait_ms=20, in_thread=True)
    got = await _serve(b, [b.submit(r) for r in reqs])
    assert max(b.stats.batch_sizes) > 1
    for r, s in zip(reqs, got, strict=True):
        alone = model.score([r[0]], [r[1]])[0]
        assert torch.allclose(s, alone, atol=1e-5)


async def test_max_batch_and_max_wait():
    b = MicroBatcher(lambda xs: xs, max_batch=3, max_wait_ms=30)
    task = asyncio.create_task(b.run())
    assert await asyncio.gather(*(b.submit(i) for i in range(7))) == list(range(7))
    assert all(size <= 3 for size in b.stats.batch_sizes)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await b.submit("alone") == "alone"      # a lone request waits at most max_wait
    assert loop.time() - t0 < 0.5
    await b.close()
    await task


async def test_full_queue_blocks_instead_of_dropping():
    b = MicroBatcher(lambda xs: xs, max_batch=2, max_wait_ms=1, queue_size=3)
    futs = [await b.enqueue(i) for i in range(3)]            # queue now full
    blocked = asyncio.create_task(b.enqueue(3))
    await asyncio.sleep(0.05)
    assert not blocked.done()                                # the producer waits
    task = asyncio.create_task(b.run())
    futs.append(await blocked)
    assert [await f for f in futs] == [0, 1, 2, 3]           # nothing dropped
    await b.close()
    await task


async def test_swap_between_batches_and_errors_answer_every_request():
    b = MicroBatcher(lambda xs: [("v1", x) for x in xs], max_batch=4, max_wait_ms=1)
    task = asyncio.create_task(b.run())
    assert await b.submit(1) == ("v1", 1)
    b.swap(lambda xs: [("v2", x) for x in xs], "v2")
    assert await b.submit(2) == ("v2", 2)
    b.swap(lambda xs: 1 / 0, "broken")
    with pytest.raises(ZeroDivisionError):
        await b.submit(3)
    b.swap(lambda xs: xs, "v3")
    assert await b.submit(4) == 4                            # still serving
    await b.close()
    await task


@pytest.mark.parametrize("kwargs", [dict(max_batch=0), dict(max_wait_ms=-1)])
def test_bad_params(kwargs):
    with pytest.raises(ValueError):
        MicroBatcher(lambda xs: xs, **kwargs)
