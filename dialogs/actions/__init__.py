"""Custom actions of the Brightline dialog, run by the Rasa action server.

Start it from ``dialogs/``: ``rasa run actions --actions actions``. The server imports
every module of this package. ``VOICEBOT_NOW`` (ISO datetime) freezes the clock and
``VOICEBOT_VAR`` moves the customer store, for tests.
"""
