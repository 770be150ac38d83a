"""Demo data: a small agency -- its people for every role -- with engagements spread over the stages."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .agency import ACCOUNT_MANAGER, ADMIN, LEADERSHIP, OPS_LEAD, PROJECT_MANAGER, RESOURCE_MANAGER
from .auth import set_password
from .engagements import complete_task, deploy_all, find_open_task, get_engagement, start_engagement
from .models import Engagement, User
from .people import add_user, list_users
from .samples import STORIES
from .services import Services


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


DEMO: tuple[DemoEngagement, ...] = (
    DemoEngagement("Northwind Coffee", "Spring launch campaign", "happy_path", None),
    DemoEngagement("Fabrikam Bikes", "Dealer portal refresh", "pitch_lost", None, am="alex", pm="priya"),
    DemoEngagement("Contoso Health", "Patient app onboarding", "happy_path", 1),
    DemoEngagement(
        "Tailspin Travel", "Summer brochure", "scope_changes_requested_twice_then_approved", 3, am="alex"
    ),
    DemoEngagement("Adventure Works", "Trade show stand", "happy_path", 5, pm="priya"),
    DemoEngagement("Wingtip Toys", "Holiday catalogue", "brief_sent_back_once", 6, am="alex", pm="priya"),
    DemoEngagement("Litware Labs", "Product explainer video", "suppliers_needed", 9, rm="rita"),
    DemoEngagement("Proseware", "Website redesign", "qc_fails_then_passes", 11, am="alex"),
    DemoEngagement("Alpine Ski House", "Season pass mailer", "fast_track", 2, pm="priya"),
    DemoEngagement(
        "Blue Yonder Airlines", "Loyalty relaunch", "client_requests_a_change", 13, pm="priya", rm="rita"
    ),
)


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

    Engagements are only created into a store that has none. Every step is completed by
    the person it is assigned to (the engagement's AM or PM).

    Returns:
        The engagements created (empty when the store already had engagements).
    """
    deploy_all(session, services, note="demo")
    seed_users(session, services, password=DEMO_PASSWORD)
    if session.scalar(select(func.count()).select_from(Engagement)):
        return []
    created = []
    for item in DEMO:
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
        for step in steps:
            task = find_open_task(session, get_engagement(session, engagement.id), step.task)
            assert task.assignee is not None, f"{step.task} of {item.client} has no assignee"
            complete_task(
                session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=task.assignee
            )
        created.append(engagement)
    return created
