"""Errors that point at the user's source: ``model.py:12: cannot differentiate through 'yield'``."""


class AstjaxError(Exception):
    """Base class of every error astjax raises on purpose."""


class AstjaxWarning(UserWarning):
    """astjax did less than asked, and says so once: e.g. `jit` of a function whose source
    it cannot read runs that function as it is (NumPy), uncompiled."""


class SourceError(AstjaxError):
    """A problem with a construct in the user's function, located at file:line."""

    def __init__(self, message, where=None, construct=None):
        self.message = message
        self.where = where
        self.construct = construct
        super().__init__(self._format())

    def _format(self):
        text = self.message
        if self.construct:
            text = f"{text}\n    {self.construct}"
        if self.where is not None:
            filename, lineno = self.where
            text = f"{filename}:{lineno}: {text}"
        return text


class UnsupportedError(SourceError):
    """The construct is valid Python but outside what a transformation handles."""


class NoRuleError(UnsupportedError):
    """A NumPy (or other library) function has no rule for the requested transformation."""


class DifferentiationError(AstjaxError):
    """A request that makes no sense mathematically, e.g. a gradient w.r.t. an integer."""


def where_of(node):
    """(filename, lineno) recorded on a node by the front end, or None."""
    origin = getattr(node, "origin", None)
    if origin is None:
        return None
    return origin.filename, origin.lineno
