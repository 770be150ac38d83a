"""Moving running instances to another version of their definition (SpiffWorkflow's diff and
migration, judged and recorded): `plan` says whether and how an instance can move, `apply` moves
it in the caller's transaction."""

from .apply import DEADLINE_KEYS, DeadlineRecompute, MigrationRefused, Migrator, keep_deadline, passed_steps
from .plan import (
    ADDED_AHEAD,
    ADDED_BEHIND,
    AS_IS,
    CHANGED_OPEN,
    MULTI_INSTANCE,
    OPEN_REMOVED,
    REFUSED,
    REMOVED_PASSED,
    RENAMED_OPEN,
    SUBPROCESS,
    UNMAPPABLE,
    VERDICTS,
    WITH_EFFECTS,
    Effect,
    InstancePlan,
    MappingError,
    Refusal,
    SpecPairing,
    plan_instance,
)

__all__ = [
    "ADDED_AHEAD",
    "ADDED_BEHIND",
    "AS_IS",
    "CHANGED_OPEN",
    "DEADLINE_KEYS",
    "MULTI_INSTANCE",
    "OPEN_REMOVED",
    "REFUSED",
    "REMOVED_PASSED",
    "RENAMED_OPEN",
    "SUBPROCESS",
    "UNMAPPABLE",
    "VERDICTS",
    "WITH_EFFECTS",
    "DeadlineRecompute",
    "Effect",
    "InstancePlan",
    "MappingError",
    "MigrationRefused",
    "Migrator",
    "Refusal",
    "SpecPairing",
    "keep_deadline",
    "passed_steps",
    "plan_instance",
]
