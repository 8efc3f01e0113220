"""astjax: JAX-style transformations (grad, jvp, vmap, jit) for plain NumPy code,
as a source-to-source compiler."""
from setuptools import find_packages, setup

setup(
    name="astjax",
    version="0.1.0",
    description="grad, jvp, vmap and jit for plain NumPy code, by source transformation",
    packages=find_packages(include=["astjax", "astjax.*", "codegen"]),
    python_requires=">=3.9",
    install_requires=[
        "numpy>=2.0",
        # gast changed node shapes in 0.3 and killed Tangent: pin a compatible range and
        # touch gast/beniget only through astjax/frontend/syntax.py.
        "gast>=0.6,<0.8",
        "beniget>=0.4.2,<0.6",
        "cython>=3.1",   # 3.1+: shared utility module, ~1 s builds instead of ~5 s
    ],
    extras_require={
        # pmap's devices are Dask workers; astjax imports and runs everything else without it
        "dask": ["dask[distributed]>=2024.1"],
        # SciPy's functions differentiate once a program imports SciPy (astjax never does)
        "scipy": ["scipy>=1.10"],
        "test": ["pytest>=7", "hypothesis>=6", "dask[distributed]>=2024.1", "scipy>=1.10"],
    },
    entry_points={"console_scripts": ["astjax=astjax.aot.cli:main"]},
)
