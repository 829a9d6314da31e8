"""The call-center domain: agents and their queues (ACD), and what a person needs."""
