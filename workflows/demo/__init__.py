"""Demo data: the demo agency's people and engagements with a past, and form-valid sample walks."""
