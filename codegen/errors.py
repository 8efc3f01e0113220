"""Errors raised by the build and cache layer of `jit`.

`BuildError` means one extension could not be built (the Cython or C compiler rejected
the generated code); `CompilerUnavailable` means no extension can be built here at all (no
C compiler, a compiler that cannot build even a trivial extension, or missing Python
headers). Both name a log file holding the full compiler output, and `jit` answers both by
running the NumPy version of the function.
"""
from astjax.errors import AstjaxError


class BuildError(AstjaxError):
    """Cython or the C compiler failed on one generated module.

    `log_path` is the file holding the complete compiler output.
    """

    def __init__(self, message, log_path=None):
        if log_path is not None:
            message = f"{message}\n  full compiler log: {log_path}"
        super().__init__(message)
        self.log_path = None if log_path is None else str(log_path)


class CompilerUnavailable(BuildError):
    """No working C compiler (or no Python headers): nothing can be compiled here."""


class BuildReentered(BuildError):
    """A build was asked for while this thread is already building one: code run by the
    build (a module Cython imports, perhaps the user's own shadowing a standard-library name)
    called a jitted function. Waiting for our own lock would deadlock: that call runs as
    NumPy instead, and builds on a later call."""


class FallbackError(AstjaxError):
    """`jit(..., strict=True)` and part of the function would run as Python/NumPy."""


class IntOverflow(OverflowError):
    """Compiled C int64 arithmetic on Python ints overflowed: the jitted function reruns this
    call as Python (whose ints are exact). Raised by generated code, caught by `jit`."""


class ListItemType(AstjaxError, TypeError):
    """Compiled code read a list item of another Python type than inferred (an inference
    bug): raised instead of converting it (Cython would truncate a float into a C int)."""


INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def must_run_as_python(exc, args):
    """Whether an OverflowError from compiled code means: rerun this call as Python (checked
    Python-int arithmetic overflowed, or a Python int argument does not fit C int64)."""
    return isinstance(exc, IntOverflow) or any(
        type(a) is int and not INT64_MIN <= a <= INT64_MAX for a in args)
