"""The settings, in groups (kafka, redis, ranking, serving, evaluation, demo), read by
pydantic-settings from ``STREAMREC_*`` env vars and the CLI's flags.

Each field ``x`` of a group is read from env var ``STREAMREC_X`` (the names are unique
over the groups, so a deployment sets flat env vars) and is reached as
``settings.<group>.x``. Values are validated when the object is built: a bad one fails at
start with a message that names the env var and what is allowed. Secrets are
``SecretStr``: never printed, never a flag, and never in an error.

>>> s = Settings.from_env({"STREAMREC_K": "10"})
>>> s.ranking.k, s.topic("events.view")
(10, 'events.view')
>>> try:
...     Settings.from_env({"STREAMREC_K": "zero"})
... except SettingsError as e:
...     print(e)
STREAMREC_K='zero': must be an integer (top-K items per recommendation list, 1..500)
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from streamrec.state.keyspace import Keyspace
from streamrec.streams.exceptions import SettingsError
from streamrec.streams.setting_groups import (
    ENV_PREFIX,
    GROUPS,
    DemoSettings,
    EvaluationSettings,
    KafkaSettings,
    RankingSettings,
    RedisSettings,
    ServingSettings,
    redact_url,
)

if TYPE_CHECKING:
    from streamrec.state.redis_store import RedisStore

__all__ = ["ENV_PREFIX", "GROUPS", "Settings", "SettingsError", "Spec", "redact_url"]


@dataclass(frozen=True)
class Spec:
    """One setting as the CLI, the README and errors see it."""

    group: str
    name: str
    kind: str  # "int", "float", "bool", "str" or "secret"
    default: Any
    help: str
    choices: tuple[str, ...] | None
    lo: float | None
    hi: float | None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.lo is not None:
            hi = "" if self.hi is None else f"{self.hi:g}"
            return f"{self.help}, {self.lo:g}..{hi}"
        return self.help


_HINTS = {g: typing.get_type_hints(cls, include_extras=True) for g, cls in GROUPS.items()}


def _spec(group: str, name: str, info: Any) -> Spec:
    hint = _HINTS[group][name]
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    choices = typing.get_args(base) if typing.get_origin(base) is Literal else None
    kind = "secret" if base is SecretStr else "str" if choices else base.__name__
    extra = info.json_schema_extra or {}
    default = "" if kind == "secret" else info.default
    return Spec(
        group, name, kind, default, info.description, choices, extra.get("lo"), extra.get("hi")
    )


SPECS: dict[str, Spec] = {
    n: _spec(g, n, info) for g, cls in GROUPS.items() for n, info in cls.model_fields.items()
}

_MUST = {
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "int_type": "must be an integer",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be a boolean (1/0, true/false)",
    "bool_type": "must be a boolean (1/0, true/false)",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
}


def _explain(err: ValidationError) -> SettingsError:
    """The first error of ``err``, naming the env var; a secret's value is never shown."""
    e = err.errors()[0]
    spec = SPECS[str(e["loc"][0])]
    if spec.secret:
        return SettingsError(
            f"{spec.env}: {e['msg'].removeprefix('Value error, ')} (value not shown: a secret)"
        )
    value = e["input"]
    shown = redact_url(value) if spec.name == "redis_url" and isinstance(value, str) else value
    if e["type"] == "value_error":
        why = e["msg"].removeprefix("Value error, ")
    elif e["type"] == "literal_error":
        why = "must be " + spec.allowed()
    else:
        why = f"{_MUST.get(e['type'], e['msg'])} ({spec.allowed()})"
    return SettingsError(f"{spec.env}={shown!r}: {why}")


class Settings(BaseModel):
    """Every setting, in its group: ``settings.ranking.k`` is ``STREAMREC_K``."""

    model_config = ConfigDict(frozen=True)

    kafka: KafkaSettings
    redis: RedisSettings
    ranking: RankingSettings
    serving: ServingSettings
    evaluation: EvaluationSettings
    demo: DemoSettings

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build from env vars (default: ``os.environ``, read by pydantic-settings); the
        non-None ``overrides`` (flat field names, as the CLI's flags give) win."""
        unknown = set(overrides) - set(SPECS)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        given: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
        for name, spec in SPECS.items():
            if overrides.get(name) is not None:
                given[spec.group][name] = overrides[name]
            elif env is not None and spec.env in env:
                given[spec.group][name] = env[spec.env]
        try:
            return cls(
                **{
                    g: GROUPS[g](**v) if env is None else GROUPS[g].model_validate(v)
                    for g, v in given.items()
                }
            )
        except ValidationError as e:
            raise _explain(e) from None

    def flat(self) -> dict[str, Any]:
        """Every setting by its field name (secrets as ``SecretStr``)."""
        return {n: getattr(getattr(self, s.group), n) for n, s in SPECS.items()}

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat field names), validated again."""
        values = self.flat()
        values.update(changes)
        return Settings.from_env({}, **values)

    def to_env(self) -> dict[str, str]:
        """The env vars that rebuild this object in a child process (secrets included:
        for the child's environment only, never for printing)."""
        out = {}
        for n, v in self.flat().items():
            if isinstance(v, SecretStr):
                v = v.get_secret_value()
            out[ENV_PREFIX + n.upper()] = str(int(v) if isinstance(v, bool) else v)
        return out

    # -- derived names -----------------------------------------------------------------
    def keyspace(self) -> Keyspace:
        """How Redis keys are named: the prefix, and hash tags on a cluster."""
        r = self.redis
        return Keyspace(r.redis_prefix, r.redis_cluster, r.redis_cluster_buckets)

    def open_store(self, **kw: Any) -> RedisStore:
        """The shared-state store these settings name (``kw``: the store's options): one
        Redis, or Redis Cluster with ``STREAMREC_REDIS_CLUSTER``."""
        from streamrec.state.cluster_store import ClusterStore
        from streamrec.state.redis_store import RedisStore
        r = self.redis
        if r.redis_cluster:
            return ClusterStore(r.redis_url, r.redis_prefix, buckets=r.redis_cluster_buckets,
                                **kw)
        return RedisStore(r.redis_url, r.redis_prefix, **kw)

    def topic(self, name: str) -> str:
        return self.kafka.topic_prefix + name

    def resolved_data_dir(self) -> Path:
        """The movielens-small folder; raises DataMissing with what to do if absent."""
        from streamrec.streams.exceptions import DataMissing

        if self.demo.data_dir:
            p = Path(self.demo.data_dir)
            if (p / "ratings.csv").exists():
                return p
            raise DataMissing(p)
        for base in search_roots():
            p = base / "shared" / "data" / "movielens-small"
            if (p / "ratings.csv").exists():
                return p
        raise DataMissing(None)

    @staticmethod
    def specs() -> Iterator[Spec]:
        """Every setting's spec, group by group."""
        return iter(SPECS.values())

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(env var, default, help) rows, for the README and ``--help``."""
        return [(s.env, repr(s.default), s.help) for s in SPECS.values()]

    @classmethod
    def markdown(cls) -> str:
        """The README's configuration table, a heading row per group
        (``python -m streamrec.streams.settings``)."""
        out = ["| env var | default | meaning |", "|---|---|---|"]
        for g, group in GROUPS.items():
            doc = (group.__doc__ or "").strip().split(": ", 1)[-1]
            out.append(f"| **{g}** | | {doc} |")
            out += [f"| `{s.env}` | `{s.default!r}` | {s.help} |"
                    for s in SPECS.values() if s.group == g]
        return "\n".join(out)


def search_roots() -> list[Path]:
    """Folders searched for shared/data/movielens-small: the working directory and up."""
    here = Path.cwd().resolve()
    return [here, *here.parents]


if __name__ == "__main__":
    print(Settings.markdown())
