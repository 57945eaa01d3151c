"""What the rest of streamrec needs from shared state, one protocol per family of state.

Two backends implement all of them: :class:`~streamrec.state.redis_store.RedisStore`
(production, every worker, the API and the learner share it) and
:class:`~streamrec.state.memory_store.MemoryStore` (one process: unit tests and the fast
offline evaluation). ``tests/contract/`` runs ONE suite of behaviour against both.

The families:

- :class:`BatchState`: the atomic batch write, its watermarks and event-id window;
- :class:`CandidateState`: co-visitation rows, content rows, trending, out-of-stock;
- :class:`CatalogState`: items, stock, prices, categories, text embeddings;
- :class:`ListState`: each user's latest list (``rec:{user}``);
- :class:`UserStateStore`: each user's recent, seen and bought items;
- :class:`ExperimentState`: experiments, their statistics and exploration arms;
- :class:`MetricsState`: counters, the latency histogram, the prequential curve, liveness;
- :class:`SnapshotState`: the learner's signed River snapshot;
- :class:`PrivacyState`: users forgotten on request, and their per-user keys removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from streamrec.models.events import CatalogChange
from streamrec.models.experiments import Experiment, VariantStats
from streamrec.models.prequential import Tally
from streamrec.streams.schemas import StoredList

from .batch import BatchWrite


@dataclass
class BatchView:
    """What a batch reads before anything else."""

    marks: dict[str, int]          # field -> next offset to apply (batch effects)
    pop_marks: dict[str, int]      # the same for trending
    seen: set[tuple[str, str]]     # (field, event id) applied within the dedup window
    forgotten_version: int = 0     # ``forgotten:v``: +1 on every forget and consent


@dataclass
class Candidates:
    """The rows a batch ranks from."""

    covis: dict[str, list[tuple[str, float]]]
    content: dict[str, list[tuple[str, float]]]
    trending: list[tuple[str, float]]
    out_of_stock: set[str]
    catalog_version: int = 0     # ``catalog:v`` read with the rows (0: no change yet)


Lists = dict[str, list[str]]     # user -> item ids of the stored list, best first
CLOCK_SKEW_S = 5.0    # serving checks lists made up to this long after a sellout


class BatchState(Protocol):
    async def batch_view(self, fields: Sequence[str], ids: dict[str, list[str]]
                         ) -> BatchView: ...
    async def watermarks(self, fields: Sequence[str]
                         ) -> tuple[dict[str, int], dict[str, int]]: ...
    async def commit(self, write: BatchWrite) -> None: ...
    async def read_batch(self, rec_users: Sequence[str], cand_items: list[str] | None = None,
                         per_item: int = 0, n_trending: int = 0, content: bool = False,
                         first: BatchWrite | None = None
                         ) -> tuple[Lists, Candidates | None]: ...


class CandidateState(Protocol):
    async def fetch_candidates(self, items: Iterable[str], per_item: int, n_trending: int,
                               content: bool = True) -> Candidates: ...


class CatalogState(Protocol):
    async def apply_catalog(self, changes: Iterable[CatalogChange]) -> None: ...
    async def all_items(self, limit: int) -> set[str]: ...
    async def known_items(self, ids: Sequence[str]) -> set[str]: ...
    async def item(self, item_id: str) -> dict[str, Any] | None: ...
    async def catalog_info(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    async def embeddings(self, ids: Sequence[str]) -> dict[str, Any]: ...
    async def out_of_stock(self) -> set[str]: ...
    async def catalog_built(self) -> bool: ...
    async def mark_catalog_built(self, changes: int) -> None: ...


class ListState(Protocol):
    async def read_recs(self, user_ids: Sequence[str]) -> Lists: ...
    async def write_recs(self, recs: dict[str, bytes]) -> None: ...
    async def serve_rec(self, user_id: str, n_trending: int
                        ) -> tuple[StoredList | None, list[tuple[str, float]]]: ...


class UserStateStore(Protocol):
    async def user_states(self, user_ids: Sequence[str]) -> list[str | bytes | None]: ...
    async def put_user_states(self, states: dict[str, bytes]) -> None: ...


class ExperimentState(Protocol):
    async def create_experiment(self, exp: Experiment) -> bool: ...
    async def save_experiment(self, exp: Experiment) -> None: ...
    async def set_experiment_status(self, name: str, status: str) -> Experiment | None: ...
    async def get_experiment(self, name: str) -> Experiment | None: ...
    async def list_experiments(self) -> list[Experiment]: ...
    async def experiment_stats(self, name: str) -> dict[str, VariantStats]: ...
    async def reset_experiment(self, name: str) -> None: ...
    async def item_arm_stats(self, ids: Sequence[str]) -> dict[str, tuple[int, int]]: ...


class MetricsState(Protocol):
    async def record_batch(self, **counts: Any) -> None: ...
    async def read_metrics(self) -> tuple[dict[str, float], dict[str, int],
                                          dict[str, Any]]: ...
    async def read_curve(self) -> dict[int, Tally]: ...
    async def heartbeat(self, worker: str, info: dict[str, Any]) -> None: ...
    async def heartbeats(self) -> dict[str, dict[str, Any]]: ...


class SnapshotState(Protocol):
    async def snapshot_version(self) -> str | None: ...
    async def get_bytes(self, name: str) -> bytes | None: ...
    async def put_snapshot(self, blob: bytes, version: int, metrics: dict[str, Any]
                           ) -> None: ...


class PrivacyState(Protocol):
    async def forget_user(self, user_id: str, at: float) -> list[str]: ...
    async def consent_user(self, user_id: str) -> bool: ...
    async def forgotten_users(self) -> dict[str, float]: ...


@runtime_checkable
class Store(BatchState, CandidateState, CatalogState, ListState, UserStateStore,
            ExperimentState, MetricsState, SnapshotState, PrivacyState, Protocol):
    """Every family: what a worker is given."""

    async def ping(self) -> bool: ...
    async def aclose(self) -> None: ...
