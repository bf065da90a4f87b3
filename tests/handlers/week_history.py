"""A fixed two-week event history with hand-computed figures (used by the metrics, summary
and export tests). Times are Asia/Shanghai; the week under test is Mon 11-23 — Sun 11-29 2026,
the summary is taken on Sun 11-29 12:00.

This week (risk: story → what it adds):
  #1 alice→bob   bob acks +10m, resolves on time          response 10m; collaborative
  #2 carol→carol acks +90m (late), resolves after 26h      response 90m; late; alone
  #3 alice→bob   dave notes, bob acks +30m, alice resolves  response 30m; collaborative; dave helps
  #4 bob→carol   never answered, escalated                 open, overdue (due Thu 09:00)
  #5 alice→alice resolves herself after 5m                  response 5m (resolving answers)
  #6 bob→alice   created/acked last week, resolved late Mon resolved this week, not on time
  #7 carol→bob   assigned to dave, dave acks +2h (late)     response 120m; open, overdue (due Fri 09:00)
Last week:
  #6 created Fri 11-20, acked +20m;  #8 carol→alice created Mon 11-16, resolved 25h later (late)

Hand-computed, this week: new 6 (#1 #2 #3 #4 #5 #7); resolved 5 (#1 #2 #3 #5 #6), on time 3 → 60 %;
collaborative 3 (#1 #3 #6) → 60 %; responses 5, 10, 30, 90, 120 min → median 30 min, p90 (nearest
rank 5 of 5) 120 min; open 2, overdue 2 (#4, #7) → overdue rate 100 %; reminders alice 3, carol 2,
bob 1, dave 0. Points: alice 2+2+2+3 = 9; bob 1+3 (#1) + 1+3 (#3) + 2 (#6 reported) = 10;
carol 2; dave 2 (helped #3) → bob is 互保之星.
Last week: new 2 (#6 #8); resolved 1 (#8, late → 0 %); open 1 (#6), overdue 1 (#6 due Sat 11-21 09:00);
responses 20 min and 25 h → median 12 h 40 min.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hubao.storage.models import Risk, RiskEvent

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=SH).astimezone(UTC)
USERS = ("alice", "bob", "carol", "dave")


def uid(name: str) -> str:
    return f"console:{name}"


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


def build(group_id: int) -> tuple[list[Risk], list[RiskEvent]]:
    risks: list[Risk] = []
    events: list[RiskEvent] = []

    def risk(number: int, reporter: str, owner: str, created: datetime, **state: Any) -> Risk:
        row = Risk(
            id=number,
            group_id=group_id,
            number=number,
            content=f"风险{number}",
            level="medium",
            reporter_id=uid(reporter),
            owner_id=uid(state.pop("final_owner", owner)),
            created_at=created,
            respond_by=created + timedelta(hours=1),
            resolve_by=created + timedelta(hours=24),
            **state,
        )
        risks.append(row)
        event(row, created, reporter, "created", {"content": row.content, "owner": uid(owner), "level": "medium"})
        return row

    def event(row: Risk, at: datetime, actor: str, kind: str, data: dict[str, Any] | None = None) -> None:
        actor_id = actor if actor == "system" else uid(actor)
        events.append(
            RiskEvent(id=len(events) + 1, group_id=group_id, risk_id=row.id, at=at, actor_id=actor_id, kind=kind,
                      data=data or {})
        )  # fmt: skip

    # last week
    r8 = risk(8, "carol", "alice", local(16, 9), status="resolved", resolved_at=local(17, 10), acked_at=local(17, 10))
    event(r8, local(17, 10), "alice", "resolved", {"note": "", "on_time": False})
    r6 = risk(6, "bob", "alice", local(20, 9), status="resolved", resolved_at=local(23, 9, 30),
              acked_at=local(20, 9, 20))  # fmt: skip
    event(r6, local(20, 9, 20), "alice", "acknowledged", {"late": False})
    # this week
    event(r6, local(23, 9, 30), "alice", "resolved", {"note": "", "on_time": False})
    r1 = risk(1, "alice", "bob", local(23, 9), status="resolved", resolved_at=local(23, 12), acked_at=local(23, 9, 10))
    event(r1, local(23, 9, 10), "bob", "acknowledged", {"late": False})
    event(r1, local(23, 12), "bob", "resolved", {"note": "ok", "on_time": True})
    r2 = risk(2, "carol", "carol", local(23, 10), status="resolved", resolved_at=local(24, 12),
              acked_at=local(23, 11, 30))  # fmt: skip
    event(r2, local(23, 11, 30), "carol", "acknowledged", {"late": True})
    event(r2, local(24, 12), "carol", "resolved", {"note": "", "on_time": False})
    r3 = risk(3, "alice", "bob", local(24, 9), status="resolved", resolved_at=local(24, 15), acked_at=local(24, 9, 30))
    event(r3, local(24, 9, 20), "dave", "noted", {"text": "日志里有线索"})
    event(r3, local(24, 9, 30), "bob", "acknowledged", {"late": False})
    event(r3, local(24, 15), "alice", "resolved", {"note": "", "on_time": True})
    r4 = risk(4, "bob", "carol", local(25, 9), status="open")
    event(r4, local(25, 10), "system", "escalated", {"step": "respond", "repeat": 1})
    r5 = risk(5, "alice", "alice", local(25, 9), status="resolved", resolved_at=local(25, 9, 5),
              acked_at=local(25, 9, 5))  # fmt: skip
    event(r5, local(25, 9, 5), "alice", "resolved", {"note": "", "on_time": True})
    r7 = risk(7, "carol", "bob", local(26, 9), status="acknowledged", acked_at=local(26, 11), final_owner="dave")
    event(r7, local(26, 9, 5), "bob", "assigned", {"from": uid("bob"), "to": uid("dave")})
    event(r7, local(26, 11), "dave", "acknowledged", {"late": True})
    events.sort(key=lambda e: (e.at, e.id or 0))
    return risks, events
