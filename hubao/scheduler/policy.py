"""Escalation policy: copied onto each risk when it is created, so later changes do not
rewrite the history of running escalations."""

from __future__ import annotations

from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from typing import Any

LEVELS = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Policy:
    respond: timedelta = timedelta(hours=1)
    resolve: timedelta = timedelta(hours=24)
    repeat: timedelta = timedelta(hours=1)
    max_repeats: int = 3
    resolve_repeat: timedelta = timedelta(days=1)

    def to_json(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict: this runs for every risk created.
        return {name: _plain(getattr(self, name)) for name in _FIELDS}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        fields: dict[str, Any] = {}
        for key in _FIELDS:
            if key in data:
                value = data[key]
                fields[key] = timedelta(seconds=float(value)) if key in _DURATIONS else int(value)
        return cls(**fields)


_FIELDS = tuple(f.name for f in dataclass_fields(Policy))
_DURATIONS = frozenset(name for name in _FIELDS if isinstance(getattr(Policy(), name), timedelta))


def _plain(value: timedelta | int) -> float | int:
    return value.total_seconds() if isinstance(value, timedelta) else value


def policy_for(escalation: Any, level: str, group_overrides: dict[str, Any] | None = None) -> Policy:
    """The policy in force for ``level``: config defaults, config per level, then the group's."""
    policy = Policy(
        respond=escalation.respond,
        resolve=escalation.resolve,
        repeat=escalation.repeat,
        max_repeats=escalation.max_repeats,
        resolve_repeat=escalation.resolve_repeat,
    )
    per_level = escalation.levels.get(level)
    if per_level is not None:
        policy = replace(policy, **{k: v for k, v in per_level.model_dump().items() if v is not None})
    overrides = (group_overrides or {}).get(level)
    if overrides:
        policy = Policy.from_json({**policy.to_json(), **overrides})
    return policy
