"""Helpers in another module, with their own globals, for cross-module transformation."""
import numpy as onp

GRAVITY = 9.81


def potential(h, mass=2.0):
    return mass * GRAVITY * h


def energy(v, h):
    return 0.5 * onp.sum(v * v) + onp.sum(potential(h))
