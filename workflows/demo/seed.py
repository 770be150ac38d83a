"""Demo data: a small agency -- its people for every role -- with engagements spread over the stages."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.definitions import properties_of
from workflows.agency import ACCOUNT_MANAGER, ADMIN, LEADERSHIP, OPS_LEAD, PROJECT_MANAGER, RESOURCE_MANAGER
from workflows.definitions.catalog import install_definitions
from workflows.demo.samples import STORIES
from workflows.engagements.effort import log_effort
from workflows.engagements.lifecycle import get_engagement, start_engagement
from workflows.engagements.tasks import complete_task, find_open_task
from workflows.models import Engagement, User
from workflows.people.auth import set_password
from workflows.people.users import add_user, list_users
from workflows.services import Services
from workflows.time.calendar import BusinessCalendar, parse_sla


@dataclass(frozen=True)
class DemoUser:
    """One person of the demo agency."""

    username: str
    name: str
    roles: tuple[str, ...]
    leads: tuple[str, ...] = ()  # roles they lead (overdue tasks of those lanes escalate to them)

    @property
    def email(self) -> str:
        """A reserved-domain address (nothing is ever sent there)."""
        return f"{self.username}@agency.example"


# every demo person logs in with it (printed by `baton demo`; never use the demo data for real work)
DEMO_PASSWORD = "baton-demo"

DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("ana", "Ana Alvarez", (ACCOUNT_MANAGER,)),
    DemoUser("alex", "Alex Chen", (ACCOUNT_MANAGER,), leads=(ACCOUNT_MANAGER,)),
    DemoUser("pete", "Pete Novak", (PROJECT_MANAGER,)),
    DemoUser("priya", "Priya Shah", (PROJECT_MANAGER,), leads=(PROJECT_MANAGER,)),
    DemoUser("rita", "Rita Okafor", (RESOURCE_MANAGER,)),
    DemoUser("olga", "Olga Berg", (OPS_LEAD,)),
    DemoUser("lee", "Lee Park", (LEADERSHIP,)),
    DemoUser("adam", "Adam Frost", (ADMIN,)),
)


@dataclass(frozen=True)
class DemoEngagement:
    """One seeded engagement: which story, how far along, for whom, run by which team."""

    client: str
    name: str
    story: str
    steps: int | None  # None: play the whole story
    am: str = "ana"
    pm: str = "pete"
    rm: str | None = None
    # how far into its SLA the open step is now (0.85: at risk, past 1: breached); for a finished
    # story, how many business days ago it ended
    open_for: float = 0.4
    ended_days_ago: float = 0.0


DEMO: tuple[DemoEngagement, ...] = (
    DemoEngagement("Northwind Coffee", "Spring launch campaign", "happy_path", None, ended_days_ago=6),
    DemoEngagement(
        "Fabrikam Bikes",
        "Dealer portal refresh",
        "pitch_lost",
        None,
        am="alex",
        pm="priya",
        ended_days_ago=15,
    ),
    DemoEngagement("Contoso Health", "Patient app onboarding", "happy_path", 1, open_for=0.85),
    DemoEngagement(
        "Tailspin Travel", "Summer brochure", "scope_changes_requested_twice_then_approved", 3, am="alex"
    ),
    DemoEngagement("Adventure Works", "Trade show stand", "happy_path", 5, pm="priya", open_for=0.3),
    DemoEngagement(
        "Wingtip Toys", "Holiday catalogue", "brief_sent_back_once", 6, am="alex", pm="priya", open_for=1.6
    ),
    DemoEngagement("Litware Labs", "Product explainer video", "suppliers_needed", 9, rm="rita", open_for=0.2),
    DemoEngagement("Proseware", "Website redesign", "qc_fails_then_passes", 11, am="alex", open_for=1.25),
    DemoEngagement("Alpine Ski House", "Season pass mailer", "fast_track", 2, pm="priya", open_for=0.8),
    DemoEngagement(
        "Blue Yonder Airlines", "Loyalty relaunch", "client_requests_a_change", 13, pm="priya", rm="rita"
    ),
)
# Each finished step took this share of its SLA, in turn: some steps run close to their deadline.
PACE = (0.35, 0.6, 0.45, 0.9, 0.5, 0.7, 0.3)
EFFORT_SHARE = 0.3  # of a step's business hours, logged as effort by the person who did it


class ReplayClock:
    """The time the demo history is replayed at: moved by hand, step by step, then handed back."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def seed_users(session: Session, services: Services, *, password: str | None = None) -> list[User]:
    """Create the demo agency's people (those missing), alex leading the AMs and priya the PMs;
    returns every user.

    Args:
        session: the unit of work.
        services: Baton's services.
        password: give it to every demo person who has no password yet (argon2 takes
            tens of milliseconds per hash, so the tests that need no login pass none).
    """
    existing = {u.username: u for u in session.scalars(select(User))}
    for person in DEMO_USERS:
        user = existing.get(person.username)
        if user is None:
            user = add_user(
                session, services, person.username, name=person.name, roles=person.roles, email=person.email
            )
            for held in user.roles:
                held.lead = held.role in person.leads
        if password is not None and user.password_hash is None:
            set_password(session, person.username, password)
    return list_users(session)


def seed_demo(session: Session, services: Services, *, actor: str = "olga") -> list[Engagement]:
    """Deploy the definitions, add the demo people (password `DEMO_PASSWORD`), create the engagements.

    Engagements are only created into a store that has none. Each is replayed in the past so that
    it reaches its stage now: every step is completed by the person it is assigned to after a
    share of its SLA (`PACE`) and logs effort, and the open step has used `open_for` of its SLA --
    some are at risk or breached once the deadline sweeper (the worker) has looked at them.

    Returns:
        The engagements created (empty when the store already had engagements).
    """
    install_definitions(session, services, note="demo")
    seed_users(session, services, password=DEMO_PASSWORD)
    if session.scalar(select(func.count()).select_from(Engagement)):
        return []
    real_clock = services.runtime.clock
    now = real_clock()
    created = []
    try:
        for item in DEMO:
            story = STORIES[item.story]
            steps = story.steps if item.steps is None else story.steps[: item.steps]
            durations = [
                _pace(session, services, story.definition, step.task, i) for i, step in enumerate(steps)
            ]
            if item.steps is None:
                tail = item.ended_days_ago * services.calendar.hours_per_day
            else:
                tail = item.open_for * _sla_hours(
                    session, services, story.definition, story.steps[item.steps].task
                )
            replay = ReplayClock(_business_hours_before(services.calendar, now, sum(durations) + tail))
            services.runtime.clock = replay  # the services read the replayed time while it runs
            created.append(_replay(session, services, item, actor, durations, replay))
    finally:
        services.runtime.clock = real_clock
    return created


def _replay(
    session: Session,
    services: Services,
    item: DemoEngagement,
    actor: str,
    durations: list[float],
    clock: ReplayClock,
) -> Engagement:
    story = STORIES[item.story]
    engagement = start_engagement(
        session,
        services,
        client=item.client,
        name=item.name,
        process_id=story.definition,
        options=copy.deepcopy(story.options),
        actor=actor,
        account_manager=item.am,
        project_manager=item.pm,
        resource_manager=item.rm,
    )
    steps = story.steps if item.steps is None else story.steps[: item.steps]
    for step, hours in zip(steps, durations, strict=True):
        task = find_open_task(session, get_engagement(session, engagement.id), step.task)
        assert task.assignee is not None, f"{step.task} of {item.client} has no assignee"
        clock.now = services.calendar.add_hours(clock.now, hours)
        log_effort(
            session,
            services,
            engagement.id,
            task.task_id,
            max(0.5, min(8.0, round(hours * EFFORT_SHARE * 2) / 2)),
            actor=task.assignee,
            note="demo",
            worked_on=clock.now.astimezone(services.calendar.zone).date(),
        )
        complete_task(
            session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=task.assignee
        )
    return engagement


def _sla_hours(session: Session, services: Services, process_id: str, bpmn_id: str) -> float:
    """The SLA of a step of the latest version, in business hours (one day when it has none)."""
    spec, _ = services.definitions.spec_for(services.definitions.latest(session, process_id))
    text = properties_of(spec.task_specs[bpmn_id]).get("sla")
    hours_per_day = services.calendar.hours_per_day
    return parse_sla(text).business_hours(hours_per_day) if text else hours_per_day


def _pace(session: Session, services: Services, process_id: str, bpmn_id: str, index: int) -> float:
    return PACE[index % len(PACE)] * _sla_hours(session, services, process_id, bpmn_id)


def _business_hours_before(calendar: BusinessCalendar, end: datetime, hours: float) -> datetime:
    """The latest instant with `hours` business hours between it and `end` (to the minute)."""
    earliest, latest = end - timedelta(days=7), end
    while calendar.business_hours_between(earliest, end) < hours:
        earliest -= timedelta(days=7)
    while latest - earliest > timedelta(minutes=1):
        middle = earliest + (latest - earliest) / 2
        if calendar.business_hours_between(middle, end) < hours:
            latest = middle
        else:
            earliest = middle
    return earliest
