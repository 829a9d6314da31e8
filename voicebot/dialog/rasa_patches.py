"""Where voicebot changes how Rasa 3.6 runs (not what it decides), to cut CPU per turn.

* :func:`limit_threads`: one BLAS/OpenMP thread and small TensorFlow pools in the dialog
  service. Its work is one short sentence per turn; on 2 cores a second BLAS thread only
  spins (22 ms CPU instead of 14 ms for a MiniLM sentence) on CPU the calls' other
  processes need. Must run before NumPy or TensorFlow is imported.
* :func:`apply`: Rasa's ``RemoteAction._validate_action_result`` calls
  ``jsonschema.validate(result, schema)``, which checks the (constant) schema against the
  meta-schema on every action-server answer (14 % of the dialog service's CPU at 32 calls).
  The patched method builds the validator once and validates every answer as before: the
  same errors, raised the same way, with Rasa's message added.
"""

from __future__ import annotations

import os
from typing import Any

#: thread counts set when not already in the environment
THREAD_ENV = {
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
}

_validators: dict[type, Any] = {}
#: Rasa's own method, kept for comparison (tests)
rasa_validate_action_result: Any = None


def limit_threads() -> None:
    """One thread per numeric library unless the environment says otherwise (call before
    NumPy/TensorFlow are imported; TensorFlow's pools are set when the model loads)."""
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)


def _tf_threads() -> None:
    """TensorFlow's pools from ``TF_*_PARALLELISM_THREADS`` (what ``rasa run`` does)."""
    from rasa.utils.tensorflow.environment import setup_tf_environment

    try:
        setup_tf_environment()
    except RuntimeError:  # the runtime is already initialised: pools cannot change any more
        pass


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's ``RemoteAction._validate_action_result`` with the validator built once."""
    from jsonschema import exceptions, validators

    cls = type(self)
    validator = _validators.get(cls)
    if validator is None:
        schema = self.action_response_format_spec()
        checker = validators.validator_for(schema)
        checker.check_schema(schema)
        validator = _validators[cls] = checker(schema)
    error = exceptions.best_match(validator.iter_errors(result))
    if error is not None:
        from rasa.shared.constants import DOCS_BASE_URL

        error.message += (
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            "For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def apply() -> None:
    """Patch Rasa once (idempotent); called when an agent is loaded."""
    from rasa.core.actions.action import RemoteAction

    global rasa_validate_action_result
    _tf_threads()
    if rasa_validate_action_result is None:
        rasa_validate_action_result = RemoteAction._validate_action_result
    RemoteAction._validate_action_result = _validate_action_result
