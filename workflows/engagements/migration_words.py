"""What moving an engagement to another version changes, in the agency's words.

`engine.migration` says what changes in structural terms (an open step's SLA, a step added ahead,
a removed step the engagement passed...); these functions say it as an ops lead reads it:
"Approve brief: SLA 1bd → 4bh, due moves to Thu 10:00", "Legal review will come after Check quality".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.definitions import FORM_PROPERTY
from engine.migration import (
    ADDED_AHEAD,
    ADDED_BEHIND,
    CHANGED_OPEN,
    MULTI_INSTANCE,
    OPEN_REMOVED,
    REMOVED_PASSED,
    RENAMED_OPEN,
    SUBPROCESS,
    UNMAPPABLE,
    Effect,
    Refusal,
)
from workflows.definitions.diff import PROPERTY_LABELS, form_changes
from workflows.time.calendar import BusinessCalendar

VERDICT_TITLES = {
    "as_is": "Moves as is",
    "with_effects": "Moves with effects",
    "refused": "Cannot move",
}


def when(at: datetime | None, calendar: BusinessCalendar) -> str:
    """A due time as people read it in the agency's zone: ``Thu 10:00`` (``Thu 3 Dec 10:00`` past a week)."""
    if at is None:
        return "no due time"
    local = at.astimezone(calendar.zone)
    return local.strftime("%a %-d %b %H:%M")


def effect_sentences(
    effect: Effect,
    *,
    calendar: BusinessCalendar,
    forms: tuple[Mapping[str, Any], Mapping[str, Any]],
    due: tuple[datetime | None, datetime | None] | None = None,
    passed_on: datetime | None = None,
    target_version: int,
) -> list[str]:
    """The sentences for one effect.

    Args:
        effect: from the plan.
        calendar: the agency's calendar (due times are shown in its zone).
        forms: the forms of the old and of the new version (file name -> JSON Schema).
        due: the open step's due time before and after the move (changed open steps).
        passed_on: when a removed step that the engagement passed was completed.
        target_version: the version number it moves to.
    """
    name = effect.name
    if effect.kind == ADDED_AHEAD:
        after = " or ".join(effect.after) if effect.after else "the start"
        return [f"{name} will come after {after}"]
    if effect.kind == ADDED_BEHIND:
        after = " or ".join(effect.after) if effect.after else "the start"
        return [
            f"{name} comes after {after} in v{target_version}, which this engagement has passed: "
            "it will not run here"
        ]
    if effect.kind == REMOVED_PASSED:
        done = f", done {passed_on.astimezone(calendar.zone).strftime('%-d %b')}," if passed_on else ""
        return [f"{name}{done} is not in v{target_version}: its record stays in the history"]
    out: list[str] = []
    if effect.kind == RENAMED_OPEN:
        out.append(
            f"{name} (open) continues as {effect.new_step} in v{target_version}; "
            "its claim and time spent stay"
        )
    changes = dict(effect.changes)
    new_name = changes.pop("name", None)
    if new_name is not None:
        out.append(f"{name} is now called “{new_name[1]}”")
    sla = changes.pop("sla", None)
    if sla is not None:
        moved = ""
        if due is not None and due[0] != due[1]:
            moved = f", due moves to {when(due[1], calendar)}"
        out.append(f"{name}: SLA {sla[0] or 'none'} → {sla[1] or 'none'}{moved}")
    lane = changes.pop("lane", None)
    if lane is not None:
        out.append(f"{name} moves from the {lane[0]} lane to {lane[1]}")
    form = changes.pop(FORM_PROPERTY, None)
    fields = changes.pop("form_fields", None)
    if form is not None:
        out.append(f"{name}: form {form[0] or 'none'} → {form[1] or 'none'}; data already submitted stays")
    elif fields is not None:
        old_forms, new_forms = forms
        words = form_changes(old_forms.get(fields[0] or "") or {}, new_forms.get(fields[1] or "") or {})
        out.append(f"{name}: form {', '.join(words) or 'changed'}; data already submitted stays")
    for key, (old, new) in changes.items():
        label = PROPERTY_LABELS.get(key, key)
        out.append(f"{name}: {label} {old or 'none'} → {new or 'none'}")
    if effect.kind == CHANGED_OPEN and not out:
        out.append(f"{name} (open) is re-created on v{target_version}")
    return out


def refusal_sentence(refusal: Refusal, target_version: int) -> str:
    """Why an engagement cannot move, and what would let it."""
    name = refusal.name or refusal.step or "a step"
    if refusal.code == OPEN_REMOVED:
        return (
            f"{name} is open and v{target_version} has no such step: "
            f"map it to a step of v{target_version}, or let it finish"
        )
    if refusal.code == UNMAPPABLE:
        return f"{name} is open and became another kind of element in v{target_version}"
    if refusal.code == MULTI_INSTANCE:
        return f"{name}: a round of approvals is in flight; move it once the round is decided"
    if refusal.code == SUBPROCESS:
        return "a subprocess is in flight (not supported yet)"
    return refusal.message
