"""NLU benchmark: load third-party intent datasets, train voicebot's Rasa NLU pipeline on
them, evaluate, and write results (see ``voicebot bench nlu``)."""
