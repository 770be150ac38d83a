"""Telling people: in-app notifications from the event log, and the e-mail outbox."""
