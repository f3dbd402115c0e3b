"""User-facing errors: one clear message, no traceback (the CLI prints them as ``error: ...``)."""


class EcgImnError(Exception):
    """Base class of every error whose message is meant for the user."""


class DataError(EcgImnError):
    """A data file or folder is missing, corrupt or inconsistent."""


class InputError(EcgImnError, ValueError):
    """An ECG given by the user cannot be used as it is (leads, rate, length, NaNs, units)."""


class CheckpointError(EcgImnError):
    """A checkpoint is missing, corrupt, or not an ECG-IMN checkpoint of the expected kind."""


class ConfigError(EcgImnError, ValueError):
    """An unknown name or invalid option (task, model, class, split)."""
