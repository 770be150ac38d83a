"""Demo data: a small agency with engagements spread over the stages."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .engagements import complete_task, deploy_all, start_engagement
from .models import Engagement
from .samples import STORIES
from .services import Services


@dataclass(frozen=True)
class DemoEngagement:
    """One seeded engagement: which story, how far along, for whom."""

    client: str
    name: str
    story: str
    steps: int | None  # None: play the whole story


DEMO: tuple[DemoEngagement, ...] = (
    DemoEngagement("Northwind Coffee", "Spring launch campaign", "happy_path", None),
    DemoEngagement("Fabrikam Bikes", "Dealer portal refresh", "pitch_lost", None),
    DemoEngagement("Contoso Health", "Patient app onboarding", "happy_path", 1),
    DemoEngagement("Tailspin Travel", "Summer brochure", "scope_changes_requested_twice_then_approved", 3),
    DemoEngagement("Adventure Works", "Trade show stand", "happy_path", 5),
    DemoEngagement("Wingtip Toys", "Holiday catalogue", "brief_sent_back_once", 6),
    DemoEngagement("Litware Labs", "Product explainer video", "suppliers_needed", 9),
    DemoEngagement("Proseware", "Website redesign", "qc_fails_then_passes", 11),
    DemoEngagement("Alpine Ski House", "Season pass mailer", "fast_track", 2),
    DemoEngagement("Blue Yonder Airlines", "Loyalty relaunch", "client_requests_a_change", 13),
)


def seed_demo(session: Session, services: Services, *, actor: str = "demo") -> list[Engagement]:
    """Deploy the definitions and create the demo engagements (only into an empty store).

    Returns:
        The engagements created (empty when the store already had engagements).
    """
    deploy_all(session, services, note="demo")
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
        )
        steps = story.steps if item.steps is None else story.steps[: item.steps]
        for step in steps:
            complete_task(session, services, engagement.id, step.task, copy.deepcopy(step.data), actor=actor)
        created.append(engagement)
    return created
