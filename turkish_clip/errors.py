"""Errors a user can fix. CLIs print them as one line (no traceback) and exit 2."""
import os


class UserError(Exception):
    """A problem with input, configuration or environment that the message tells how to fix."""


class InputError(UserError):
    """Bad input data: a file, a record or a caption; the message names the item."""


class ModelNotFoundError(UserError):
    """A model could not be loaded (missing locally and not reachable)."""


def looks_like_local_path(name: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else that looks like a path (./x, /x, ~/x, a/b/c) is a folder."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def model_not_found(what: str, name: str, hint: str, cause: BaseException | None = None) -> ModelNotFoundError:
    """Build the one-line message every loader uses for an unreachable model."""
    reason = f" ({type(cause).__name__}: {str(cause).splitlines()[0][:160]})" if cause else ""
    return ModelNotFoundError(f"{what} '{name}' is not available offline and could not be downloaded{reason}. {hint}")
