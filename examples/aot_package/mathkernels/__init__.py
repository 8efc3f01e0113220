"""mathkernels: a small package compiled ahead of time with `astjax build` (see README.md)."""
from .activations import selu, softmax_rows
from .geometry import logistic_map, pairwise_distances

__all__ = ["selu", "softmax_rows", "logistic_map", "pairwise_distances"]
