"""Engagements: their lifecycle (start, cancel, team), their tasks (complete, claim, release,
reassign), approvals, effort and versions. Each use case checks the actor's right inside."""
