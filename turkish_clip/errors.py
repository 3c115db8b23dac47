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


def model_not_found(what: str, name: str, hint: str, cause: BaseException | None = None,
                    hub: bool = True) -> ModelNotFoundError:
    """Build the one-line message every loader uses for an unreachable model (never cut: the fix is at its end).

    For a Hugging Face hub model (`hub`) found missing offline, the reason given is why the hub was not asked (the
    quick probe of turkish_clip.hub failed, or offline mode is on), not the library's long text.
    """
    from turkish_clip.hub import offline_reason

    why = "" if looks_like_local_path(name) or not hub else offline_reason()
    lines = str(cause).strip().splitlines() if cause else []
    reason = f" ({why})" if why else f" ({type(cause).__name__}: {lines[0].strip()})" if lines else (
        f" ({type(cause).__name__})" if cause else "")
    return ModelNotFoundError(f"{what} '{name}' is not available offline and could not be downloaded{reason}. {hint}")


def check_at_least(option: str, value, low: int = 1):
    """The one rule for count options (--limit, --batch-size, --max-length, ...): an integer >= low, or None (unset).

    The message names the option as the user wrote it, e.g. "--limit must be an integer >= 1, got 0".
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{option} must be an integer >= {low}, got {value!r}")
    return value


def at_least(low: int = 1):
    """argparse `type=` for count options: the same rule as `check_at_least`, reported by argparse for the option."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse
