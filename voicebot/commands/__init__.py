"""Sub-commands of the ``voicebot`` CLI (see voicebot.cli)."""
