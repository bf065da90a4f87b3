"""Figures and points from a fixed event history, against hand-computed values (see week_history)."""

from __future__ import annotations

from datetime import timedelta

from hubao.handlers.metrics import Period, PointRules, compute, median, percentile
from hubao.handlers.reports import week_of
from tests.handlers.week_history import NOW, SH, build, local, uid

WEEK = week_of(NOW, SH)


def test_week_boundaries_are_monday_midnight_in_the_group_zone() -> None:
    assert Period(local(23, 0), local(30, 0)) == WEEK
    assert WEEK.start.isoformat() == "2026-11-22T16:00:00+00:00"
    assert WEEK.previous() == Period(local(16, 0), local(23, 0))


def test_weekly_figures_match_the_hand_computed_values() -> None:
    risks, events = build(group_id=1)
    figures = compute(risks, events, WEEK, NOW)
    assert figures.as_of == NOW
    assert (figures.new, figures.resolved, figures.resolved_on_time) == (6, 5, 3)
    assert figures.on_time_rate == 0.6
    assert figures.collaborative == 3  # #1, #3 (three people) and #6; #2 and #5 were one person each
    assert figures.collaboration_rate == 0.6
    assert sorted(figures.response_times) == [timedelta(minutes=m) for m in (5, 10, 30, 90, 120)]
    assert figures.median_response == timedelta(minutes=30)
    assert figures.p90_response == timedelta(minutes=120)
    assert figures.open == 2
    assert [r.number for r in figures.overdue] == [4, 7]
    assert figures.overdue_rate == 1.0
    assert dict(figures.reminders) == {uid("alice"): 3, uid("carol"): 2, uid("bob"): 1}


def test_last_week_is_computed_from_the_same_history() -> None:
    risks, events = build(group_id=1)
    figures = compute(risks, events, WEEK.previous(), NOW)
    assert figures.as_of == WEEK.start
    assert (figures.new, figures.resolved, figures.resolved_on_time, figures.open) == (2, 1, 0, 1)
    assert [r.number for r in figures.overdue] == [6]  # due Sat 11-21 09:00, resolved only on Monday
    assert figures.median_response == timedelta(hours=12, minutes=40)  # mean of 20 min and 25 h


def test_points_follow_the_rules_and_each_award_names_its_event() -> None:
    risks, events = build(group_id=1)
    figures = compute(risks, events, WEEK, NOW)
    assert figures.leaderboard() == [(uid("bob"), 10), (uid("alice"), 9), (uid("carol"), 2), (uid("dave"), 2)]
    assert figures.stars() == [uid("bob")]
    by_id = {e.id: e for e in events}
    dave = figures.awards_of(uid("dave"))
    assert [(a.rule, a.points, a.number) for a in dave] == [("help_resolve", 2, 3)]
    assert by_id[dave[0].event_id].kind == "noted"  # his comment on #3 earned it
    carol = figures.awards_of(uid("carol"))
    assert [(a.rule, a.number) for a in carol] == [("report_resolved", 2)]  # her late ack on #2 earns nothing
    for award in figures.awards:
        event = by_id[award.event_id]
        assert event.risk_id == award.risk_id and award.at in WEEK
    for user, total in figures.leaderboard():
        assert sum(a.points for a in figures.awards_of(user)) == total == figures.members[user].points


def test_point_rules_come_from_configuration_and_zero_disables_a_rule() -> None:
    risks, events = build(group_id=1)
    rules = PointRules(report_resolved=5, ack_in_time=0, resolve_in_time=1, help_resolve=0)
    figures = compute(risks, events, WEEK, NOW, rules)
    # bob: #1 resolve 1 + #3 resolve 1 + #6 report 5; alice: 3 reports × 5 + #5 resolve 1
    assert figures.leaderboard() == [(uid("alice"), 16), (uid("bob"), 7), (uid("carol"), 5)]
    assert not [a for a in figures.awards if a.rule in ("ack_in_time", "help_resolve")]


def test_reopening_and_resolving_again_pays_nothing_twice() -> None:
    risks, events = build(group_id=1)
    r1 = next(r for r in risks if r.number == 1)
    from hubao.storage.models import RiskEvent

    extra = [
        RiskEvent(id=100, group_id=1, risk_id=r1.id, at=local(23, 13), actor_id=uid("alice"), kind="reopened", data={}),
        RiskEvent(id=101, group_id=1, risk_id=r1.id, at=local(23, 14), actor_id=uid("bob"), kind="resolved",
                  data={"on_time": True}),
    ]  # fmt: skip
    figures = compute(risks, events + extra, WEEK, NOW)
    assert figures.leaderboard()[:2] == [(uid("bob"), 10), (uid("alice"), 9)]
    assert figures.resolved == 5  # #1 counts once


def test_member_figures() -> None:
    risks, events = build(group_id=1)
    figures = compute(risks, events, WEEK, NOW)
    dave = figures.members[uid("dave")]
    assert (dave.acked, dave.acked_late, dave.open, dave.overdue) == (1, 1, 1, 1)  # #7 was handed to him
    bob = figures.members[uid("bob")]
    assert (bob.owned_new, bob.resolved, bob.resolved_on_time, bob.acked) == (3, 2, 2, 2)
    assert bob.response_times == [timedelta(minutes=10), timedelta(minutes=30)]  # #7 answered after the hand-over


def test_percentiles_use_nearest_rank() -> None:
    values = [timedelta(minutes=m) for m in range(1, 11)]
    assert percentile(values, 90) == timedelta(minutes=9)
    assert percentile(values[:1], 90) == timedelta(minutes=1)
    assert median(values) == timedelta(minutes=5, seconds=30)
    assert percentile([], 90) is None and median([]) is None
