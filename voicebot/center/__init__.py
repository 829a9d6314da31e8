"""The call center's shared servers (Redis for conversation state shared by hosts)."""
