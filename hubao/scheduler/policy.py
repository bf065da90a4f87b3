"""Escalation policy: copied onto each risk when it is created, so later changes do not
rewrite the history of running escalations."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
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
        return {k: (v.total_seconds() if isinstance(v, timedelta) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Policy:
        base = cls()
        fields: dict[str, Any] = {}
        for key, default in asdict(base).items():
            if key in data:
                value = data[key]
                fields[key] = timedelta(seconds=float(value)) if isinstance(default, timedelta) else int(value)
        return replace(base, **fields)


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
