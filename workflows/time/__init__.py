"""Business time: the agency calendar, SLA deadlines, client-aware clocks and task durations."""
