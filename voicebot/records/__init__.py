"""Call records: what every call did, kept in a database as the call goes.

:mod:`~voicebot.records.schema` holds the tables (SQLAlchemy Core), ``migrations/`` the
Alembic scripts that create and change them, :mod:`~voicebot.records.store` the
:class:`RecordStore` (SQLite under ``var/`` by default, PostgreSQL by URL),
:mod:`~voicebot.records.recorder` the per-call observer a call session reports to,
:mod:`~voicebot.records.stats` the dashboard's statistics and
:mod:`~voicebot.records.recording` the optional stereo call recording.
"""
