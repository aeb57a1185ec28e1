"""The notification outbox: every notification is a row before it is sent.

Writing: :func:`change_hook` gives the hook to pass to
:func:`notifier.tracking.sync.sync_calendars`; it writes change alerts and re-plans the
touched events' reminders inside the sync's own transaction. :func:`replan_all`
re-plans every upcoming event (at startup, after a config change).

Sending (used by :mod:`notifier.notify.dispatch`): :func:`claim` atomically reserves due
rows under a lease, :func:`finish` records the outcome, :func:`release` hands
rows back, :func:`next_due` says when to wake up, :func:`prune` deletes old rows.
Rows are built and inserted by :mod:`.outbox_rows` (re-exported here).
All times are aware UTC; every function takes ``now`` (no hidden clock).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Connection, and_, bindparam, func, or_, text, update
from sqlalchemy import case as sql_case
from sqlalchemy import select as sa_select
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import configure_mappers
from sqlmodel import Session, col, select

from ..config import Settings
from ..store.bulk import select_in
from ..store.models import FINAL, WAITING, Case, Change, Delivery, Event, Notification, UTCDateTime
from ..tracking.sync import ChangeHook
from . import changes as changes_mod
from . import planner
from .outbox_rows import CHUNK, NT, delete_rows, insert_rows, new_row, set_status
from .outbox_rows import chunks as _chunks
from .subscriptions import lifecycle as sub_lifecycle
from .subscriptions import planning as sub_planning

# Claimed first, oldest due first: reminders and digests go stale (``missed`` after
# ``late_grace``) while a change alert is news whenever it arrives, so a backlog of
# alerts on a channel must not hold a due reminder back (issue 17: 1,000 queued
# alerts made reminders 30 s late).
PROMPT = ("reminder", "digest")
PRIORITY_SQL = "CASE WHEN type IN ('reminder', 'digest') THEN 0 ELSE 1 END"


def claim_order(n: Notification) -> tuple[int, datetime, int]:
    """The order claimed rows are sent in (the claim's ``ORDER BY``)."""
    return (0 if n.type in PROMPT else 1, n.next_attempt_at, n.id or 0)

DT = Delivery.__table__  # type: ignore[attr-defined]


def _dialect(s: Session | Connection) -> str:
    return s.dialect.name if isinstance(s, Connection) else s.get_bind().dialect.name


def desired_reminders(ev: Any, case: Case, settings: Settings,
                      rules: planner.CaseRules | None = None,
                      routes: dict[tuple[str, str], list[str]] | None = None,
                      ) -> dict[str, dict[str, Any]]:
    """dedupe key -> row for every reminder ``ev`` should have on every channel.

    ``routes`` keeps the channels found by (case id, kind) for the next call about the
    same case (a re-plan of 100,000 events matches each case's channels once)."""
    planned = planner.plan_reminders(ev, case, settings.reminders, rules)
    if not planned:
        return {}
    chans = routes.get((case.id, ev.kind)) if routes is not None else None
    if chans is None:
        chans = planner.routes(settings.channels, "reminder", case.id,
                               planner.case_tags(case), ev.kind)
        if routes is not None:
            routes[(case.id, ev.kind)] = chans
    out: dict[str, dict[str, Any]] = {}
    for p in planned:
        for ch in chans:
            out[p.key(ch)] = {"channel": ch, "plan": p, "event": ev, "case": case}
    return out


def reconcile(s: Session, pairs: Iterable[tuple[Any, Case]], settings: Settings,
              now: datetime, *, scope: Sequence[str] | None,
              withdraw_overdue: bool, keep: Collection[str] = ()) -> dict[str, int]:
    """Make the stored reminders of ``scope`` (event UIDs; None = all) match the plan.

    New reminders due after ``now`` and within ``[reminders] horizon`` are
    inserted (ones already due are not created: a hearing added an hour before it
    starts gets no 7-day reminder; later ones are written by a later re-plan).
    Waiting reminders no longer planned are withdrawn; with ``withdraw_overdue``
    false, ones already due are left to the dispatcher, which re-checks them and
    records them as sent, missed or withdrawn. A withdrawn reminder planned again
    (the hearing moved back) is revived. Rows of the channels in ``keep`` (known to
    another daemon of a cluster, not to this one) are never withdrawn here.
    """
    desired: dict[str, dict[str, Any]] = {}
    rules: dict[str, tuple[planner.CaseRules, datetime]] = {}
    routes: dict[tuple[str, str], list[str]] = {}
    for ev, case in pairs:
        r = rules.get(case.id)
        if r is None:
            parsed = planner.CaseRules.parse(case.reminders)
            # Beyond this an event has no reminder within the horizon, and any waiting
            # one it has is for an old date (withdrawn below): no need to plan it.
            reach = now + settings.reminders.horizon + timedelta(days=1) + \
                planner.max_offset(settings.reminders, [parsed])
            r = rules[case.id] = (parsed, reach)
        if ev.sort_utc is not None and ev.sort_utc > r[1]:
            continue
        desired.update(desired_reminders(ev, case, settings, r[0], routes))
    q: Any = sa_select(NT.c.id, NT.c.dedupe_key, NT.c.status, NT.c.due_at, NT.c.channel).where(
        NT.c.type == "reminder", NT.c.status.in_([*WAITING, "withdrawn"]))
    existing: list[Any] = []
    if scope is None:
        existing = list(s.execute(q).all())
    else:
        # By event only, the rest filtered here: given the type and status too, SQLite
        # picked the status index and walked every waiting row once per synced file.
        by_event = sa_select(NT.c.id, NT.c.dedupe_key, NT.c.status, NT.c.due_at, NT.c.channel,
                             NT.c.type)
        wanted = {*WAITING, "withdrawn"}
        existing = [r[:5] for r in select_in(s, by_event, NT.c.event_uid, list(scope), CHUNK)
                    if r[5] == "reminder" and r[2] in wanted]
    known = {row[1] for row in existing}
    withdraw = [row[0] for row in existing if row[2] in WAITING and row[1] not in desired
                and (withdraw_overdue or row[3] > now) and row[4] not in keep]
    revive = [row[0] for row in existing if row[2] == "withdrawn" and row[1] in desired
              and desired[row[1]]["plan"].due_at > now]
    set_status(s, withdraw, "withdrawn", now, "no longer planned: the event moved, was "
               "cancelled or removed, or the reminder rules changed")
    for chunk in _chunks(revive):
        s.execute(update(NT).where(NT.c.id.in_(chunk)).values(
            status="pending", attempts=0, next_attempt_at=NT.c.due_at, last_error=None,
            claimed_until=None, updated_at=now))
    rows = []
    until = now + settings.reminders.horizon
    for key, d in desired.items():
        p: planner.PlannedReminder = d["plan"]
        if key in known or not now < p.due_at <= until:
            continue
        payload = planner.reminder_payload(p, d["event"], d["case"])
        rows.append(new_row(key, "reminder", d["channel"], p.due_at, now, payload,
                         event_uid=p.event_uid, case_id=p.case_id,
                         offset_s=int(p.offset.total_seconds())))
    insert_rows(s, rows)
    return {"inserted": len(rows), "withdrawn": len(withdraw), "revived": len(revive)}


def replan_all(s: Session, settings: Settings, now: datetime, *,
               keep: Collection[str] = ()) -> dict[str, int]:
    """Re-plan the reminders of the events whose reminders fall within the horizon.

    Run at start and periodically (the engine's housekeeping) to move the window.
    Waiting rows of events outside the window are left alone: the dispatcher
    re-checks every reminder against its event before sending it.
    """
    cases = {c.id: c for c in s.exec(select(Case)).all()}
    rules = [planner.CaseRules.parse(c.reminders) for c in cases.values()]
    reach = settings.reminders.horizon + planner.max_offset(settings.reminders, rules)
    # Plain rows rather than ORM objects: cheaper when the window holds many events.
    et = Event.__table__  # type: ignore[attr-defined]
    q = et.select().where(et.c.removed_at.is_(None), et.c.status.in_(planner.REMINDABLE),
                          et.c.sort_utc > now, et.c.sort_utc <= now + reach + timedelta(days=1))
    pairs = [(r, cases[r.case_id]) for r in s.execute(q) if r.case_id in cases]
    out = reconcile(s, pairs, settings, now, scope=[r.uid for r, _c in pairs],
                    withdraw_overdue=False, keep=keep)
    sub_planning.plan_reminders(s, settings, now)
    sub_lifecycle.plan_finals(s, settings, now)
    return out


def record_changes(s: Session, changes: Sequence[Change], settings: Settings,
                   now: datetime, *, alerts: bool = True,
                   keep: Collection[str] = ()) -> dict[str, int]:
    """Write change alerts for ``changes`` and re-plan the reminders of their events
    (in bulk, with one alert per case and channel for a first import: :mod:`.changes`).
    Rows of the channels in ``keep`` (known to another daemon) are never withdrawn.

    ``alerts=False`` (a baseline import) only re-plans the reminders. Followers of a
    case these changes left with no date get their final email (after the alerts)."""
    out = changes_mod.record_changes(
        s, changes, settings, now, alerts=alerts, new_row=new_row, insert_rows=insert_rows,
        reconcile=lambda s_, pairs, scope: reconcile(s_, pairs, settings, now, scope=scope,
                                                      withdraw_overdue=True, keep=keep))
    if alerts and changes:
        sub_lifecycle.plan_finals(s, settings, now, {c.case_id for c in changes})
    return out


def change_hook(settings: Settings, *, alerts: bool = True,
                keep: Callable[[], Collection[str]] | None = None) -> ChangeHook:
    """The hook for ``sync_calendars``: alerts + re-planning in the sync's transaction.

    ``alerts=False`` gives its ``baseline_hook``: an import into an empty database
    plans reminders but announces nothing (every event would be "added"). ``keep``
    gives the channels whose rows are never withdrawn (see :func:`reconcile`)."""
    def hook(s: Session, changes: list[Change], now: datetime) -> None:
        record_changes(s, changes, settings, now, alerts=alerts,
                       keep=keep() if keep is not None else ())
    return hook


def hold_hook(settings: Settings) -> Callable[[Session, Any, datetime], None]:
    """The ``on_hold`` hook of source polling: the operator notice becomes an outbox row
    for every channel with ``"operator"`` in ``notify``, in the fetch's transaction
    (with none, the notice is only logged, which the source engine does anyway)."""
    def hook(s: Session, notice: Any, now: datetime) -> None:
        chans = [c.name for c in settings.channels if "operator" in c.notify]
        payload = {"title": f"Source {notice.source!r}: changes held", "text": notice.text}
        at = notice.at.strftime("%Y%m%dT%H%M%SZ")
        insert_rows(s, [new_row(f"operator:hold:{notice.source}:{at}:{ch}", "operator", ch, now,
                             now, payload) for ch in chans])
    return hook


def claim(s: Session | Connection, now: datetime, lease: timedelta, limit: int, *,
          channel: str | None = None, exclude: Sequence[str] = ()) -> list[Notification]:
    """Reserve up to ``limit`` due rows for this caller, atomically.

    One conditional ``UPDATE ... RETURNING``: a row is taken only while it is
    waiting and due, or ``sending`` under an expired lease (its dispatcher died
    mid-send: it is sent again, at most one duplicate per crash). Two dispatchers
    never get the same row. ``channel`` claims only that channel's rows and
    ``exclude`` skips those channels (the dispatcher's per-channel lanes). On
    PostgreSQL the candidates are picked once, in a materialized CTE, and locked
    with ``FOR UPDATE SKIP LOCKED`` so concurrent claimers do not wait on each other.

    Reminders and digests come first (:data:`PROMPT`), then oldest due first; the rows
    come back in that order (:func:`claim_order`), as read-only ``Notification`` objects in
    no session (see :func:`_detached`).
    """
    due = or_(and_(NT.c.status.in_(WAITING), NT.c.next_attempt_at <= now),
              and_(NT.c.status == "sending", NT.c.claimed_until < now))
    if channel is not None:
        due = and_(NT.c.channel == channel, due)
    elif exclude:
        due = and_(NT.c.channel.not_in(list(exclude)), due)
    first = sql_case((NT.c.type.in_(PROMPT), 0), else_=1)
    pick: Any = select(NT.c.id).where(due).order_by(first, NT.c.next_attempt_at).limit(limit)
    if _dialect(s) == "postgresql":
        # Materialized: as a plain subquery PostgreSQL may run it again for every
        # candidate row (a semi-join) and so take more than ``limit`` rows.
        picked = pick.with_for_update(skip_locked=True).cte("picked") \
            .prefix_with("MATERIALIZED")
        pick = select(picked.c.id)
    else:
        pick = pick.scalar_subquery()
    # Core, not ORM: building full ORM objects (identity map, events) for every
    # claimed row cost more than the UPDATE itself.
    stmt = (update(NT).where(NT.c.id.in_(pick)).where(due)
            .values(status="sending", claimed_until=now + lease,
                    attempts=NT.c.attempts + 1, updated_at=now)
            .returning(*NT.c))
    configure_mappers()  # reading a Notification's attributes needs them; a no-op once done
    rows = [_detached(r._mapping) for r in s.execute(stmt)]
    rows.sort(key=claim_order)
    return rows


def _detached(values: RowMapping) -> Notification:
    """A read-only ``Notification`` from a full row of column values.

    No validation (the values come from the database, typed by the column types)
    and no ORM state: reading attributes works, setting one raises AttributeError,
    and it cannot be added to a session (write changes with Core statements, as
    :func:`finish` does). Call ``configure_mappers()`` once before reading them.
    """
    return Notification.model_construct(**values)


# The statements that record an outcome (also run by notifier.notify.dispatch_sql on SQLite).
FINISH_SQL = (
    "UPDATE notification SET status = :status, claimed_until = NULL, updated_at = :now, "
    "last_error = :error, late = :late, sent_at = COALESCE(:sent_at, sent_at), "
    "next_attempt_at = COALESCE(:retry_at, next_attempt_at) "
    "WHERE id = :id AND status = 'sending' AND claimed_until = :held")
DELIVERY_SQL = (
    "INSERT INTO delivery (notification_id, channel, attempted_at, outcome, error, duration_ms,"
    " repeat) VALUES (:nid, :channel, :at, :outcome, :error, :ms, :repeat)")
# Attempts recorded so far; read only for a row claimed more than once.
PRIOR_SQL = "SELECT count(*) FROM delivery WHERE notification_id = :nid"
_FINISH = text(FINISH_SQL).bindparams(
    bindparam("now", type_=UTCDateTime()), bindparam("sent_at", type_=UTCDateTime()),
    bindparam("retry_at", type_=UTCDateTime()), bindparam("held", type_=UTCDateTime()),
    bindparam("late", type_=Boolean()))
_DELIVERY = text(DELIVERY_SQL).bindparams(bindparam("at", type_=UTCDateTime()),
                                          bindparam("repeat", type_=Boolean()))
_PRIOR = text(PRIOR_SQL)


def possible_repeat(attempts: int, recorded: int, finished: bool) -> bool:
    """Whether an attempt may repeat a message already delivered.

    Every claim counts an attempt (a hand-back uncounts it) and every recorded outcome
    leaves a Delivery row, so fewer rows than earlier attempts means an earlier claim
    ended unrecorded (its daemon was killed mid-send, or could not record in time);
    ``finished`` False means this attempt's lease was lost and another claim followed.
    """
    return not finished or recorded < attempts - 1


def finish(s: Session | Connection, n: Notification, now: datetime, status: str, *,
           held: datetime | None = None, error: str | None = None,
           retry_at: datetime | None = None, late: bool = False,
           outcome: str | None = None, duration_ms: int = 0) -> bool:
    """Record the outcome of a claimed row and one Delivery row (the attempt happened).

    The row is updated only while it is still under this caller's lease: ``held`` is
    the lease's end as claimed or last renewed (default: ``n.claimed_until``). Returns
    False if the lease was lost (another dispatcher claimed the row after it ran out).
    The Delivery row is marked as a possible repeat (:func:`possible_repeat`).
    """
    # Pre-built textual statements: this runs once per message sent, and building
    # Core statements per call cost more CPU than the SQL itself.
    res = s.execute(_FINISH, {"id": n.id, "status": status, "now": now, "error": error,
                              "late": late, "sent_at": now if status == "sent" else None,
                              "retry_at": retry_at,
                              "held": held if held is not None else n.claimed_until})
    done = bool(getattr(res, "rowcount", 1))
    recorded = s.execute(_PRIOR, {"nid": n.id or 0}).scalar_one() if n.attempts > 1 else 0
    s.execute(_DELIVERY, {"nid": n.id or 0, "channel": n.channel, "at": now,
                          "outcome": outcome or status, "error": error, "ms": duration_ms,
                          "repeat": possible_repeat(n.attempts, recorded, done)})
    return done


def delivery_at(s: Session, notification_id: int, at: datetime) -> bool:
    """Whether the attempt of ``notification_id`` that ended at ``at`` is recorded."""
    return s.exec(select(func.count()).select_from(Delivery).where(
        Delivery.notification_id == notification_id, Delivery.attempted_at == at)).one() > 0


def release(s: Session, ids: Sequence[int], now: datetime, *,
            held: datetime | None = None) -> None:
    """Hand claimed rows back unsent (shutdown); the attempt is not counted.

    With ``held`` (the lease's end as claimed or renewed) only rows still under that
    lease are handed back: never one another dispatcher claimed after it ran out.
    """
    for chunk in _chunks(list(ids)):
        mine = [NT.c.id.in_(chunk), NT.c.status == "sending"]
        if held is not None:
            mine.append(NT.c.claimed_until == held)
        s.execute(update(NT).where(*mine).values(
            status="pending", claimed_until=None, attempts=NT.c.attempts - 1,
            updated_at=now))


def defer(s: Session, channel: str, ids: Sequence[int], until: datetime, now: datetime, *,
          held: datetime | None = None) -> None:
    """Hold a channel's rows back until ``until`` (it answered 429 with Retry-After):
    the claimed ``ids`` go back unsent (see :func:`release`), and every waiting row of
    the channel due earlier waits until then."""
    release(s, ids, now, held=held)
    s.execute(update(NT).where(NT.c.channel == channel, NT.c.status.in_(WAITING),
                               NT.c.next_attempt_at < until)
              .values(next_attempt_at=until, updated_at=now))


def renew(s: Session, ids: Sequence[int], held: datetime, until: datetime,
          now: datetime) -> set[int]:
    """Extend the lease of claimed rows still under lease ``held`` to ``until``.

    Returns the ids renewed: a row missing from it was claimed by another dispatcher
    after the lease ran out, and must not be sent by this one.
    """
    kept: set[int] = set()
    for chunk in _chunks(list(ids)):
        res = s.execute(update(NT).where(
            NT.c.id.in_(chunk), NT.c.status == "sending", NT.c.claimed_until == held,
        ).values(claimed_until=until, updated_at=now).returning(NT.c.id))
        kept.update(r[0] for r in res)
    return kept


def next_due(s: Session) -> datetime | None:
    """When the next row falls due (an expired lease counts too), or None."""
    waiting = s.exec(select(func.min(Notification.next_attempt_at))
                     .where(col(Notification.status).in_(WAITING))).one()
    leased = s.exec(select(func.min(Notification.claimed_until))
                    .where(Notification.status == "sending")).one()
    found = [t for t in (waiting, leased) if t is not None]
    return min(found) if found else None


def prune(s: Session, now: datetime, retention: timedelta) -> int:
    """Delete finished rows (and their deliveries) that finished before now - retention.

    A follower's final email is kept: its dedupe key stops it being sent again while
    the subscription lasts (:mod:`.subscriptions.lifecycle` deletes it with it)."""
    cutoff = now - retention
    ids = list(s.exec(select(Notification.id).where(
        col(Notification.status).in_(FINAL), Notification.updated_at < cutoff,
        Notification.type != sub_lifecycle.FINAL)).all())
    delete_rows(s, [i for i in ids if i is not None])
    return len(ids)


def counts(s: Session) -> dict[str, int]:
    """Rows per status (for health checks and metrics)."""
    rows = s.exec(select(Notification.status, func.count()).group_by(Notification.status))
    return {status: n for status, n in rows.all()}
