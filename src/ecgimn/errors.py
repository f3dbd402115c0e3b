"""User-facing errors: one clear message, no traceback (the CLI prints them as ``error: ...``).

Each also subclasses the builtin a caller would catch for its kind: ``ValueError`` for bad data, input and options,
``RuntimeError`` for a checkpoint that cannot be used.
"""


class EcgImnError(Exception):
    """Base class of every error whose message is meant for the user."""


class DataError(EcgImnError, ValueError):
    """A data file or folder is missing, corrupt or inconsistent."""


class InputError(EcgImnError, ValueError):
    """An ECG given by the user cannot be used as it is (leads, rate, length, NaNs, units)."""


class CheckpointError(EcgImnError, RuntimeError):
    """A checkpoint is missing, corrupt, or not an ECG-IMN checkpoint of the expected kind."""


class ConfigError(EcgImnError, ValueError):
    """An unknown name or invalid option (task, model, class, split)."""
