"""The seeds tour: astjax's transformations on plain NumPy functions.

Run:  python examples/seeds_tour.py
"""
import numpy as np

import astjax


# ---- the seed functions: plain NumPy, nothing astjax-specific -------------------------------

def sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


def x_sin_x(x):
    return x * np.sin(x)


def rectified_cube(x):
    """|x| ** 3, written with a loop and a branch."""
    r = 1.0
    for i in range(3):
        r = r * x
    if x < 0.0:
        r = -r
    return r


def show(label, value):
    print(f"{label:<44} {value}")


def reverse_mode():
    print("== reverse mode: grad ==")
    dfdx = astjax.grad(sum_logistic)
    show("grad(sum_logistic)(arange(3.))", dfdx(np.arange(3.0)))
    show("grad(x * sin(x))(3.0)", astjax.grad(x_sin_x)(3.0))
    d_cube = astjax.grad(rectified_cube)
    show("grad(rectified_cube)(2.0)", d_cube(2.0))
    show("grad(rectified_cube)(-3.0)", d_cube(-3.0))
    print()
    print("The generated gradient of sum_logistic (astjax.source):")
    print(astjax.source(dfdx))


def main():
    np.set_printoptions(precision=8)
    reverse_mode()


if __name__ == "__main__":
    main()
