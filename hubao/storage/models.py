"""SQLModel tables. All times are stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json_column(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class Group(SQLModel, table=True):
    """One registered group chat on one platform."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    chat_id: str = Field(max_length=128)
    name: str = Field(max_length=128)
    leader_id: str | None = Field(default=None, max_length=160)
    locale: str | None = Field(default=None, max_length=8)
    timezone: str | None = Field(default=None, max_length=64)
    calendar: str | None = Field(default=None, max_length=16)  # always | workdays; None = config
    work_hours: str | None = Field(default=None, max_length=16)
    escalate_to: str | None = Field(default=None, max_length=128)
    digest_at: str | None = Field(default=None, max_length=16)  # "fri 17:00"; None = config
    policy: dict[str, Any] = _json_column(dict)  # per-level overrides set by /admin policy
    next_number: int = 1
    created_at: datetime = _utc_column()


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id", index=True)
    user_id: str = Field(max_length=160)
    name: str = Field(default="", max_length=128)
    partner_id: str | None = Field(default=None, max_length=160)
    active: bool = True
    joined_at: datetime = _utc_column()


class BotAdmin(SQLModel, table=True):
    """Admins added from chat; admins listed in config are not stored."""

    __tablename__ = "bot_admins"

    user_id: str = Field(primary_key=True, max_length=160)
    added_by: str = Field(max_length=160)
    added_at: datetime = _utc_column()


class Risk(SQLModel, table=True):
    __tablename__ = "risks"
    __table_args__ = (
        UniqueConstraint("group_id", "number"),
        Index("ix_risks_next_step_at", "next_step_at"),
        Index("ix_risks_group_status", "group_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    number: int
    content: str = Field(max_length=2000)
    level: str = Field(default="medium", max_length=8)
    tags: list[str] = _json_column(list)
    reporter_id: str = Field(max_length=160)
    owner_id: str = Field(max_length=160)
    status: str = Field(default="open", max_length=16)  # open | acknowledged | resolved
    urgent: bool = False
    source: str = Field(default="chat", max_length=16)  # chat | api | alert | meeting
    created_at: datetime = _utc_column()
    respond_by: datetime = _utc_column()
    resolve_by: datetime = _utc_column()
    acked_at: datetime | None = _utc_column(nullable=True)
    resolved_at: datetime | None = _utc_column(nullable=True)
    snoozed_until: datetime | None = _utc_column(nullable=True)
    resolution: str = Field(default="", max_length=2000)
    # The escalation policy as it was when the risk was created (or reopened).
    policy: dict[str, Any] = _json_column(dict)
    # When the sweep must next look at this risk; NULL when nothing is pending.
    next_step_at: datetime | None = _utc_column(nullable=True)
    respond_pings: int = 0  # respond-window pings sent since the clocks last started
    resolve_pings: int = 0
    clock_epoch: int = 0  # bumped by /reopen so step keys of a new round differ
    # 可能性 × 影响 assessment, 1-5 each; NULL until assessed (see hubao.handlers.assessment).
    likelihood: int | None = None
    impact: int | None = None


class RiskEvent(SQLModel, table=True):
    """The append-only audit trail: who did what to which risk, when, from which message."""

    __tablename__ = "risk_events"
    __table_args__ = (Index("ix_risk_events_group_at", "group_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    risk_id: int | None = Field(default=None, foreign_key="risks.id", index=True)
    at: datetime = _utc_column()
    actor_id: str = Field(max_length=160)  # "system" for the scheduler
    kind: str = Field(max_length=32)
    data: dict[str, Any] = _json_column(dict)
    message_id: str | None = Field(default=None, max_length=200)


class WebAccess(SQLModel, table=True):
    """The generation of a scope's web links (``group:<id>`` or ``org``); revoking bumps it.

    A link or session carries the generation it was made under and is refused once it differs.
    """

    __tablename__ = "web_access"

    scope: str = Field(primary_key=True, max_length=40)
    generation: int = 0
    changed_at: datetime = _utc_column()
    changed_by: str = Field(default="", max_length=160)


class Outbox(SQLModel, table=True):
    """Durable outbound messages, written in the transaction of the change that caused them."""

    __tablename__ = "outbox"
    # A channel's queue in send order (lane, then creation): the worker claims from its head.
    __table_args__ = (
        Index("ix_outbox_channel", "state", "platform", "chat_id", "channel", "lane", "id", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=240, unique=True)  # idempotency key
    platform: str = Field(max_length=32)
    chat_id: str = Field(max_length=128)
    lane: int = 1
    payload: dict[str, Any] = _json_column(dict)
    state: str = Field(default="pending", max_length=16)  # pending | sending | sent | dead
    attempts: int = 0
    next_attempt_at: datetime = _utc_column()
    created_at: datetime = _utc_column()
    sent_at: datetime | None = _utc_column(nullable=True)
    last_error: str = Field(default="", max_length=500)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _utc_column(nullable=True)
    # The send channel within the chat ("" = the chat's own; e.g. a single-use reply URL), see
    # hubao.bot.delivery: messages of one channel share its queue and its rate.
    channel: str = Field(default="", max_length=160, sa_column_kwargs={"server_default": ""})


class OutboxPace(SQLModel, table=True):
    """The next moment a send channel may send, shared by every instance (its rate)."""

    __tablename__ = "outbox_pace"

    platform: str = Field(primary_key=True, max_length=32)
    chat_id: str = Field(primary_key=True, max_length=128)
    channel: str = Field(primary_key=True, max_length=160)
    ready_at: datetime = _utc_column()
    # Its sends inside the rate's window (a JSON list of ISO times): at most ``rate`` per window.
    recent: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class SeenDelivery(SQLModel, table=True):
    """Platform deliveries already processed, so a platform retry has one effect."""

    __tablename__ = "seen_deliveries"

    key: str = Field(primary_key=True, max_length=240)
    seen_at: datetime = _utc_column(index=True)
    # "pending": stored before the platform was answered, not processed yet (``event`` holds the
    # neutral event for start-up and the sweep to finish); "done": processed, kept for de-duplication.
    state: str = Field(default="done", max_length=8, index=True)
    event: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Lease(SQLModel, table=True):
    __tablename__ = "leases"

    name: str = Field(primary_key=True, max_length=120)
    holder: str = Field(max_length=64)
    expires_at: datetime = _utc_column()


class Timer(SQLModel, table=True):
    """A job kept in the database, run once by the sweep when due (see hubao.scheduler.timers)."""

    __tablename__ = "timers"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)  # one timer per key, e.g. "weekly:12"
    kind: str = Field(max_length=64)
    group_id: int | None = Field(default=None, foreign_key="groups.id", index=True)
    ref: str = Field(default="", max_length=200)  # what it is about, e.g. a meeting id
    due_at: datetime = _utc_column(index=True)
    data: dict[str, Any] = _json_column(dict)
    runs: int = 0  # how often it has fired; a rescheduled timer keeps its row
    created_at: datetime = _utc_column()


class Meeting(SQLModel, table=True):
    """A meeting of a group: started and ended by the leader, recorded by anyone."""

    __tablename__ = "meetings"
    __table_args__ = (Index("ix_meetings_group_started", "group_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    title: str = Field(default="", max_length=200)
    started_by: str = Field(max_length=160)
    started_at: datetime = _utc_column()
    ended_at: datetime | None = _utc_column(nullable=True)
    ended_by: str | None = Field(default=None, max_length=160)  # "system" when closed automatically
    # The group id while the meeting is open, NULL once closed: at most one open meeting per group.
    open_slot: int | None = Field(default=None, unique=True)


class MeetingItem(SQLModel, table=True):
    """One note, decision or action recorded during a meeting; an action links its risk."""

    __tablename__ = "meeting_items"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meetings.id", index=True)
    kind: str = Field(max_length=16)  # note | decision | action
    text: str = Field(max_length=2000)
    author_id: str = Field(max_length=160)
    at: datetime = _utc_column()
    risk_id: int | None = Field(default=None, foreign_key="risks.id")
    message_id: str | None = Field(default=None, max_length=200)


class Incident(SQLModel, table=True):
    """Emergency mode of a group: open until ended, with progress prompts meanwhile."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_group_started", "group_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    title: str = Field(max_length=500)
    started_by: str = Field(max_length=160)
    started_at: datetime = _utc_column()
    ended_at: datetime | None = _utc_column(nullable=True)
    ended_by: str | None = Field(default=None, max_length=160)
    summary: str = Field(default="", max_length=2000)
    prompt_every_s: int = 1800  # copied from config when the incident starts
    open_slot: int | None = Field(default=None, unique=True)  # group id while open
    drill: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})  # 演练, counted apart


class IncidentEntry(SQLModel, table=True):
    """The incident timeline, append-only: started, update, prompt, ended."""

    __tablename__ = "incident_entries"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = _utc_column()
    actor_id: str = Field(max_length=160)  # "system" for prompts
    kind: str = Field(max_length=16)
    text: str = Field(default="", max_length=2000)
    data: dict[str, Any] = _json_column(dict)


class ApiToken(SQLModel, table=True):
    """A group's intake token (``/admin token``); only its SHA-256 is kept."""

    __tablename__ = "api_tokens"

    group_id: int = Field(foreign_key="groups.id", primary_key=True)
    token_hash: str = Field(max_length=64)
    created_by: str = Field(max_length=160)
    created_at: datetime = _utc_column()


class ExternalRef(SQLModel, table=True):
    """An outside system's handle on a risk: an API idempotency key or an alert fingerprint."""

    __tablename__ = "external_refs"
    __table_args__ = (UniqueConstraint("group_id", "source", "ref"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    source: str = Field(max_length=16)  # api | alert
    ref: str = Field(max_length=200)
    risk_id: int = Field(foreign_key="risks.id")
    updated_at: datetime = _utc_column()


class RegisterEntry(SQLModel, table=True):
    """An entry of the group's 互保风险清单: a known risk with its trigger and agreed response."""

    __tablename__ = "register_entries"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    number: int  # R1, R2, … per group
    name: str = Field(max_length=200)
    level: str = Field(default="medium", max_length=8)
    trigger: str = Field(default="", max_length=500)
    response: str = Field(default="", max_length=1000)
    owner_id: str | None = Field(default=None, max_length=160)
    created_by: str = Field(max_length=160)
    created_at: datetime = _utc_column()
    reviewed_at: datetime = _utc_column()  # last added, edited or triggered
    removed_at: datetime | None = _utc_column(nullable=True)


class Goal(SQLModel, table=True):
    """A group goal (互保小组目标); its state mirrors its events in ``risk_events`` (kind ``goal.*``)."""

    __tablename__ = "goals"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    number: int  # G1, G2, … per group
    text: str = Field(max_length=500)
    owner_id: str | None = Field(default=None, max_length=160)
    due_at: datetime | None = _utc_column(nullable=True)
    status: str = Field(default="open", max_length=16)  # open | done | dropped
    created_by: str = Field(max_length=160)
    created_at: datetime = _utc_column()
    closed_at: datetime | None = _utc_column(nullable=True)
    note: str = Field(default="", max_length=500)


class Pledge(SQLModel, table=True):
    """A version of the group's 互保责任书; the newest one is in force."""

    __tablename__ = "pledges"
    __table_args__ = (Index("ix_pledges_group_set", "group_id", "set_at"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    text: str = Field(max_length=2000)
    set_by: str = Field(max_length=160)
    set_at: datetime = _utc_column()


class PledgeConfirmation(SQLModel, table=True):
    __tablename__ = "pledge_confirmations"
    __table_args__ = (UniqueConstraint("pledge_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: int = Field(foreign_key="pledges.id")
    user_id: str = Field(max_length=160)
    confirmed_at: datetime = _utc_column()


class Survey(SQLModel, table=True):
    """A quarterly evaluation (季度互保工作评估) of a group: open until ended or auto-closed."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("group_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="groups.id")
    number: int
    title: str = Field(max_length=200)
    started_by: str = Field(max_length=160)
    started_at: datetime = _utc_column()
    closes_at: datetime = _utc_column()
    closed_at: datetime | None = _utc_column(nullable=True)
    closed_by: str | None = Field(default=None, max_length=160)  # "system" when closed automatically
    open_slot: int | None = Field(default=None, unique=True)  # group id while open


class SurveyAnswer(SQLModel, table=True):
    """One member's answer (changeable while open); reports show only aggregates, never who."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("survey_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", index=True)
    user_id: str = Field(max_length=160)
    q1: int | None = None  # 责任是否清晰
    q2: int | None = None  # 沟通是否高效
    q3: int | None = None  # 风险防控是否有效
    comment: str = Field(default="", max_length=500)
    answered_at: datetime = _utc_column()


class DutyRoster(SQLModel, table=True):
    """A group's duty rotation (值班): who takes turns, when the turn passes, whose turn it is."""

    __tablename__ = "duty_rosters"

    group_id: int = Field(foreign_key="groups.id", primary_key=True)
    members: list[str] = _json_column(list)  # user ids in turn order
    position: int = 0  # index into members of who is on duty now
    every: str = Field(default="mon 09:00", max_length=24)  # "mon 09:00" weekly, "day 09:00" daily
    since: datetime = _utc_column()  # when the current turn began
    updated_by: str = Field(max_length=160)
    updated_at: datetime = _utc_column()


class CrossRequest(SQLModel, table=True):
    """A request from one group to another (跨部门协同): the risk lives in the target group."""

    __tablename__ = "cross_requests"

    id: int | None = Field(default=None, primary_key=True)
    risk_id: int = Field(foreign_key="risks.id", unique=True)
    from_group_id: int = Field(foreign_key="groups.id", index=True)
    to_group_id: int = Field(foreign_key="groups.id", index=True)
    requested_by: str = Field(max_length=160)
    created_at: datetime = _utc_column()


class RequestRule(SQLModel, table=True):
    """Whether ``asker_group_id`` may send requests to ``group_id`` (``/admin requests allow|deny``)."""

    __tablename__ = "request_rules"

    group_id: int = Field(foreign_key="groups.id", primary_key=True)
    asker_group_id: int = Field(foreign_key="groups.id", primary_key=True)
    allowed: bool
    changed_by: str = Field(max_length=160)
    changed_at: datetime = _utc_column()


class NotifyOptOut(SQLModel, table=True):
    """A person who asked for no direct messages on non-urgent escalation steps (``/me notify off``)."""

    __tablename__ = "notify_opt_outs"

    user_id: str = Field(primary_key=True, max_length=160)
    at: datetime = _utc_column()
