"""Errors a user can fix. CLIs print them as one line (no traceback) and exit 2."""


class UserError(Exception):
    """A problem with input, configuration or environment that the message tells how to fix."""


class InputError(UserError):
    """Bad input data: a file, a record or a caption; the message names the item."""


class ModelNotFoundError(UserError):
    """A model could not be loaded (missing locally and not reachable)."""


def model_not_found(what: str, name: str, hint: str, cause: BaseException | None = None) -> ModelNotFoundError:
    """Build the one-line message every loader uses for an unreachable model."""
    reason = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:160]})" if cause else ""
    return ModelNotFoundError(f"{what} '{name}' is not available offline and could not be downloaded{reason}. {hint}")
