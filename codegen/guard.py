"""What `jit` does when compiled code raises: name the user's line, or rerun as Python safely.

    saved = Snapshot.of(args)          # only when the call may rerun after writing (below)
    try:
        return module.f(*args)
    except Exception as exc:
        where = user_lines(exc, lowered)     # ["model.py:12: s += x[i]", ...], innermost first

An error from generated code (IndexError from a bounds-checked item, ZeroDivisionError,
AssertionError, ...) keeps its type, and gets a note naming the user's file:line and the line's
text, found from the .pyx line in its traceback through the `# model.py:12: ...` comments
codegen.cython writes before each statement (`Lowered.lines`).

Checked Python-int arithmetic that leaves int64 reruns the call as Python, whose ints are
exact. A rerun must not repeat what the compiled run already did:
- the arguments and captured globals the call may write into (`Lowered.written`, followed
  through aliases) are restored first from a `Snapshot` taken before the call, only for
  functions that both write and may overflow, and only up to SNAPSHOT_BYTES of arrays;
- writes into larger arguments, or other effects (print), make the overflow an OverflowError
  naming the overflowing line and what cannot be undone, instead of a rerun;
- an overflow while converting the arguments (before the body ran) always reruns.
"""
import os

import numpy as np

from .errors import IntOverflow, must_run_as_python


def generated_frames(exc, lowered):
    """The .pyx line numbers of exc's traceback inside this generated module, outermost first."""
    name = lowered.module_file
    lines = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if name and os.path.basename(code.co_filename) == name:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return lines


def user_lines(exc, lowered):
    """The user's lines exc was raised from ('file.py:12: text'), innermost first."""
    out = []
    for lineno in reversed(generated_frames(exc, lowered)):
        origin = lowered.origin_at(lineno)
        if origin is not None:
            text = f"{origin.filename}:{origin.lineno}: {(origin.text or '').strip()}"
            if text not in out:
                out.append(text)
    return out


def name_user_line(exc, lowered, fn_name):
    """Add a note to exc naming the user's line(s) it was raised from; True if it did."""
    where = user_lines(exc, lowered)
    if not where:
        return False
    note = f"raised by jit-compiled {fn_name} at {where[0]}"
    for outer in where[1:]:
        note += f"\n  called from {outer}"
    if note not in getattr(exc, "__notes__", ()):
        exc.add_note(note)
    return True


def is_int_overflow(exc, args):
    """Python ints left C int64: checked arithmetic, or a conversion of a too-large int."""
    return must_run_as_python(exc, args) or (
        isinstance(exc, OverflowError) and "too large to convert" in str(exc))


def needs_snapshot(lowered):
    return lowered is not None and lowered.writes and not lowered.effects


SNAPSHOT_BYTES = 1 << 18     # arrays larger than this (together) are not copied per call


class Snapshot:
    """The contents of every array, list, dict and set reachable from the arguments, to put
    back in place (same objects, so the caller's references stay valid) before a rerun.

    Copying costs a pass over the data on every call, so arrays of more than SNAPSHOT_BYTES
    in all are not saved: `of` returns None, and an overflow after a write then refuses
    (overflow_refusal) rather than rerun."""

    def __init__(self):
        self.saved = []
        self.nbytes = 0

    @classmethod
    def of(cls, values):
        snap, seen = cls(), set()
        for v in values:
            snap._save(v, seen)
            if snap.nbytes > SNAPSHOT_BYTES:
                return None
        return snap

    def _save(self, v, seen):
        if id(v) in seen:
            return
        if isinstance(v, np.ndarray):
            seen.add(id(v))
            if v.flags.writeable:
                self.nbytes += v.nbytes
                if self.nbytes > SNAPSHOT_BYTES:
                    return
                self.saved.append((v, v.copy()))
            if v.dtype == object:
                for item in v.flat:
                    self._save(item, seen)
        elif isinstance(v, list):
            seen.add(id(v))
            self.saved.append((v, list(v)))
            for item in v:
                self._save(item, seen)
        elif isinstance(v, dict):
            seen.add(id(v))
            self.saved.append((v, dict(v)))
            for item in v.values():
                self._save(item, seen)
        elif isinstance(v, set):
            seen.add(id(v))
            self.saved.append((v, set(v)))
        elif isinstance(v, tuple):
            for item in v:
                self._save(item, seen)

    def restore(self):
        for obj, saved in self.saved:
            if isinstance(obj, np.ndarray):
                np.copyto(obj, saved)
            elif isinstance(obj, list):
                obj[:] = saved
            else:
                obj.clear()
                obj.update(saved)


def overflow_refusal(exc, lowered, fn_name):
    """The OverflowError for a call that overflowed int64 and cannot rerun as Python."""
    where = user_lines(exc, lowered)
    at = f" at {where[0]}" if where else ""
    effects = [o for o in lowered.effects if o is not None]
    if effects:
        because = f"ran {effects[0].filename}:{effects[0].lineno}: {effects[0].text.strip()}"
    elif lowered.effects:
        because = "ran a call kept for its effect"
    else:
        because = (f"wrote into its arguments (over {SNAPSHOT_BYTES >> 10} KiB of arrays: "
                   f"too large to save on every call)")
    return OverflowError(
        f"jit-compiled {fn_name}: Python int arithmetic left C int64{at}. The call cannot "
        f"rerun as Python (whose ints are exact): it already {because}. Use NumPy ints "
        f"(np.int64, which wrap) or floats there, or call the function without jit.")


__all__ = ["Snapshot", "user_lines", "name_user_line", "is_int_overflow", "needs_snapshot",
           "overflow_refusal", "IntOverflow"]
