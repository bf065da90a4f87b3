"""The ladder as a pure function: which step, which rung, who, when next."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from hubao.scheduler.calendar import ALWAYS, Holidays, WorkdaysCalendar
from hubao.scheduler.escalation import RESOLVE, RESPOND, Audience, RiskView, Step, due_at, next_step
from hubao.scheduler.policy import Policy

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 Asia/Shanghai
H = timedelta(hours=1)
POLICY = Policy()


def risk(**changes: object) -> RiskView:
    view = RiskView(
        status="open",
        level="medium",
        urgent=False,
        respond_by=T0 + H,
        resolve_by=T0 + 24 * H,
        acked_at=None,
        snoozed_until=None,
        respond_pings=0,
        resolve_pings=0,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def perform(view: RiskView, step: Step) -> RiskView:
    if step.step == RESPOND:
        return replace(view, respond_pings=step.repeat)
    return replace(view, resolve_pings=step.repeat)


def test_nothing_before_the_respond_window_ends() -> None:
    assert next_step(risk(), POLICY, T0 + timedelta(minutes=59)) is None
    assert due_at(risk(), POLICY) == T0 + H


def test_first_rung_pings_owner_and_partner_then_the_next_hour() -> None:
    step = next_step(risk(), POLICY, T0 + H)
    assert step == Step(RESPOND, 1, Audience.OWNER | Audience.PARTNER, T0 + H, 0, T0 + 2 * H)


def test_repeats_add_the_leader_and_stop_after_three() -> None:
    view = risk()
    seen = []
    for hours in range(1, 24):
        step = next_step(view, POLICY, T0 + hours * H)
        if step is not None:
            seen.append((hours, step.repeat, Audience.LEADER in step.audience))
            view = perform(view, step)
    assert seen == [(1, 1, False), (2, 2, True), (3, 3, True), (4, 4, True)]
    assert due_at(view, POLICY) == T0 + 24 * H  # only the resolve rung is left


def test_resolve_rung_pings_everyone_up_the_chain_then_daily() -> None:
    view = risk(respond_pings=4)
    step = next_step(view, POLICY, T0 + 24 * H)
    assert step is not None and step.step == RESOLVE and step.repeat == 1
    assert step.audience == Audience.OWNER | Audience.LEADER | Audience.ADMINS | Audience.ESCALATION_CHAT
    assert not step.mention_all
    assert step.next_at == T0 + 48 * H
    assert next_step(perform(view, step), POLICY, T0 + 47 * H) is None
    again = next_step(perform(view, step), POLICY, T0 + 48 * H)
    assert again is not None and again.repeat == 2 and again.next_at == T0 + 72 * H


def test_high_level_and_urgent_risks_call_everyone_at_the_resolve_rung() -> None:
    for view in (risk(level="high"), risk(urgent=True)):
        step = next_step(view, POLICY, T0 + 24 * H)
        assert step is not None and step.mention_all
    respond = next_step(risk(level="high"), POLICY, T0 + H)
    assert respond is not None and not respond.mention_all


def test_acknowledged_risk_only_waits_for_the_resolve_rung() -> None:
    view = risk(acked_at=T0 + timedelta(minutes=30), status="acknowledged")
    assert next_step(view, POLICY, T0 + 2 * H) is None
    assert due_at(view, POLICY) == T0 + 24 * H


def test_resolved_risk_has_no_next_step() -> None:
    view = risk(status="resolved")
    assert due_at(view, POLICY) is None
    assert next_step(view, POLICY, T0 + 100 * H) is None


def test_snooze_holds_every_ping_until_it_ends_then_jumps_to_the_current_rung() -> None:
    view = risk(snoozed_until=T0 + 3 * H + timedelta(minutes=30))
    assert due_at(view, POLICY) == T0 + 3 * H + timedelta(minutes=30)
    assert next_step(view, POLICY, T0 + 3 * H) is None
    step = next_step(view, POLICY, T0 + 3 * H + timedelta(minutes=30))
    assert step is not None and (step.repeat, step.skipped) == (3, 2)
    assert step.next_at == T0 + 4 * H


def test_downtime_jumps_to_the_current_rung_once() -> None:
    step = next_step(risk(), POLICY, T0 + 3 * H + timedelta(minutes=5))
    assert step is not None
    assert (step.step, step.repeat, step.skipped, step.rung_at) == (RESPOND, 3, 2, T0 + 3 * H)
    assert step.audience & Audience.LEADER


def test_downtime_past_the_resolve_deadline_skips_the_rest_of_the_respond_ladder() -> None:
    step = next_step(risk(respond_pings=1), POLICY, T0 + 30 * H)
    assert step is not None and (step.step, step.repeat, step.skipped) == (RESOLVE, 1, 0)
    done = perform(risk(respond_pings=1), step)
    assert due_at(done, POLICY) == T0 + 48 * H  # no stale respond rung comes back


def test_a_long_outage_folds_many_daily_rungs_into_one() -> None:
    view = risk(respond_pings=4, resolve_pings=1)
    step = next_step(view, POLICY, T0 + 24 * H + timedelta(days=40, hours=3))
    assert step is not None and (step.repeat, step.skipped) == (41, 39)
    assert step.next_at == T0 + 24 * H + timedelta(days=41)


def test_policy_without_repeats_pings_once_per_window() -> None:
    policy = Policy(max_repeats=0)
    step = next_step(risk(), policy, T0 + 5 * H)
    assert step is not None and (step.repeat, step.skipped) == (1, 0)
    assert due_at(perform(risk(), step), policy) == T0 + 24 * H


def test_pings_outside_working_time_wait_for_the_next_working_minute() -> None:
    calendar = WorkdaysCalendar(ZoneInfo("Asia/Shanghai"), is_workday=Holidays().is_workday)
    # Due at 18:30 local (10:30 UTC) on Monday; working hours end at 18:00.
    view = risk(respond_by=datetime(2026, 11, 23, 10, 30, tzinfo=UTC), resolve_by=T0 + 72 * H)
    assert due_at(view, POLICY, calendar) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tue 09:00
    assert next_step(view, POLICY, datetime(2026, 11, 23, 12, 0, tzinfo=UTC), calendar) is None
    step = next_step(view, POLICY, datetime(2026, 11, 24, 1, 0, tzinfo=UTC), calendar)
    assert step is not None and step.repeat == 1
    # The repeat counts one working hour from the rung: Tue 10:00.
    assert step.next_at == datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=60 * 24 * 3), min_size=1, max_size=40))
def test_any_sweep_times_ping_each_rung_at_most_once_in_order(gaps: list[int]) -> None:
    """However irregular the sweeps, rungs only move forward and never repeat."""
    view = risk(level="high")
    now = T0
    done: list[tuple[str, int]] = []
    for gap in gaps:
        now += timedelta(minutes=gap)
        step = next_step(view, POLICY, now, ALWAYS)
        if step is None:
            continue
        assert step.rung_at <= now
        assert step.next_at is None or step.next_at > now
        done.append((step.step, step.repeat))
        view = perform(view, step)
    order = [(0 if s == RESPOND else 1, n) for s, n in done]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert all(n <= 4 for s, n in done if s == RESPOND)
