"""QA replay: recorded caller cases through the whole pipeline, checked against expectations."""
