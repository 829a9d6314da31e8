"""Outbound campaigns: a campaign file, its contacts, the durable state of every contact,
attempt and answer, the dialer's pacing, and the results."""
