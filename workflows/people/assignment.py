"""Who a ready task goes to: the engagement's team member for the role of the task's lane.

Each definition says which role works each of its lanes (see `workflows.agency.lanes_of`);
each engagement has a team (its AM, its PM, maybe a resource manager). `TeamPolicy` joins
the two when a task becomes ready, and `PolicyChain` composes it with the SLA policy so the
runtime gets the due date and the assignee from one policy.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from engine.bundles import BPMN_SUFFIXES as BPMN_FILE_SUFFIXES
from engine.fastsql import FastStatement
from engine.models import DefinitionVersion, WorkflowInstance
from engine.projection import ReadyTask, TaskPolicy
from workflows.agency import ROLE_FROM_PROPERTY, ROLES, lane_roles
from workflows.models import Engagement, TeamMember, User

_DEFINITION = cast(Table, DefinitionVersion.__table__)
# a raw statement, not an ORM query: the policy may run inside a step's psycopg pipeline
_BPMN_OF = FastStatement(
    select(_DEFINITION.c.bpmn_xml, _DEFINITION.c.files).where(_DEFINITION.c.id == bindparam("definition_id"))
)


class LaneRoleCache:
    """Lane name -> role of each deployed version, read from its BPMN once (versions never change)."""

    def __init__(self) -> None:
        self._roles: dict[int, dict[str, str]] = {}
        self._lock = threading.Lock()

    def roles(self, session: Session, definition_id: int) -> Mapping[str, str]:
        """Every lane of a version with its role."""
        roles = self._roles.get(definition_id)
        if roles is None:
            rows = _BPMN_OF.fetchall(session.connection(), {"definition_id": definition_id})
            roles = {}
            if rows:
                # a bundle's called processes have lanes of their own
                files = rows[0][1]
                files = json.loads(files) if isinstance(files, str) else (files or {})
                for name, xml in sorted(files.items()):
                    if name.lower().endswith(BPMN_FILE_SUFFIXES):
                        roles.update(lane_roles(xml))
                roles.update(lane_roles(rows[0][0]))
            with self._lock:
                self._roles[definition_id] = roles
        return roles

    def role_of(self, session: Session, definition_id: int, lane: str | None) -> str | None:
        """The role working `lane` in a version (None: no lane, or a lane without a known role)."""
        return None if lane is None else self.roles(session, definition_id).get(lane)


_INSTANCE = cast(Table, WorkflowInstance.__table__)
_ENGAGEMENT = cast(Table, Engagement.__table__)
_TEAM = cast(Table, TeamMember.__table__)
_USER = cast(Table, User.__table__)
# an instance's definition and the active members of its engagement's team (one row per role)
_TEAM_QUERY = select(_INSTANCE.c.definition_id, _TEAM.c.role, _USER.c.username).select_from(
    _INSTANCE.outerjoin(_ENGAGEMENT, _ENGAGEMENT.c.instance_id == _INSTANCE.c.id)
    .outerjoin(_TEAM, _TEAM.c.engagement_id == _ENGAGEMENT.c.id)
    .outerjoin(_USER, (_USER.c.id == _TEAM.c.user_id) & _USER.c.active.is_(True))
)
_TEAM_OF_INSTANCE = FastStatement(_TEAM_QUERY.where(_INSTANCE.c.id == bindparam("instance_id")))
# the same rows by engagement id, for callers that read them before a step (`remember_team`)
TEAM_OF_ENGAGEMENT = FastStatement(_TEAM_QUERY.where(_ENGAGEMENT.c.id == bindparam("engagement_id")))
_REMEMBERED = "baton.teams"

TeamRows = list[tuple[Any, ...]]  # (definition id, role, username) as the team queries give them


def remember_team(session: Session, instance_id: int, rows: TeamRows) -> None:
    """Keep an instance's team rows (from `TEAM_OF_ENGAGEMENT`) for the rest of the unit of work.

    A use case that reads them together with the task it completes saves the policy a round
    trip in the middle of the step's writes. `workflows.people` forgets them when the team
    changes; a session lives for one unit of work.
    """
    session.info.setdefault(_REMEMBERED, {})[instance_id] = rows


def forget_team(session: Session, instance_id: int) -> None:
    """Drop the rows `remember_team` kept (the team changed)."""
    session.info.get(_REMEMBERED, {}).pop(instance_id, None)


class TeamPolicy:
    """Assigns a ready task to the engagement's team member for its lane's role.

    A task whose lane's role has no (active) member on the team stays unassigned: it waits
    in its lane for any member of the role. So does the first task of a new engagement,
    which becomes ready before the engagement row exists; `start_engagement` staffs it.
    """

    def __init__(self, lanes: LaneRoleCache) -> None:
        self.lanes = lanes

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Return the task's role (``candidate_group``) and the team member holding it (``assignee``)."""
        if task.lane is None:
            return {}
        rows = session.info.get(_REMEMBERED, {}).get(task.instance_id)
        if rows is None:
            rows = _TEAM_OF_INSTANCE.fetchall(session.connection(), {"instance_id": task.instance_id})
        if not rows:
            return {}
        role = task_role(task) or self.lanes.role_of(session, rows[0][0], task.lane)
        if role is None:
            return {}
        member = next((username for _d, r, username in rows if r == role and username), None)
        return {"candidate_group": role, "assignee": member} if member else {"candidate_group": role}


def task_role(task: ReadyTask) -> str | None:
    """The role a task's own data names through its `role_from` property (None: its lane's role).

    An approval run as a multi-instance task lives in one lane, but each instance may need
    a different approver: leadership for one, the AM for another.
    """
    item = task.properties.get(ROLE_FROM_PROPERTY)
    if not item:
        return None
    role = task.data.get(item)
    return role if isinstance(role, str) and role in ROLES else None


class PolicyChain:
    """Several task policies as one: their columns are merged, later policies winning."""

    def __init__(self, *policies: TaskPolicy) -> None:
        self.policies = policies

    def on_ready(self, session: Session, task: ReadyTask) -> Mapping[str, Any]:
        """Merge what every policy returns."""
        merged: dict[str, Any] = {}
        for policy in self.policies:
            merged.update(policy.on_ready(session, task))
        return merged
