"""The call-center domain: agents and their queues (ACD), outbound campaigns, and the
shared servers a center runs (Redis for conversation state shared by hosts)."""
