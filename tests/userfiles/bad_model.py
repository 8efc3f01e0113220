"""Functions astjax must refuse, with errors that point here."""
import numpy as np
import statistics


def uses_yield(x):
    y = x * 2.0
    yield y


def uses_try(x):
    try:
        return x * 2.0
    except ValueError:
        return x


def uses_stdlib(x):
    return statistics.fmean(x)


def uses_unwrap(x):
    return np.sum(np.abs(np.unwrap(x)))


def vector_out(x):
    return x * 2.0


def undefined_name(x):
    return x * not_defined_anywhere  # noqa: F821
