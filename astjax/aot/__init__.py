"""On top of the pipeline: ahead-of-time builds, prebuilt artifacts, and the command line.

`cli` is the `astjax` command (build, show, annotate, cache); `build` compiles every declared
signature of the `@astjax.jit` functions it finds to `__astjax__/` artifacts, `lowering` says
what jit would compile at a signature, `prebuilt` finds and imports those artifacts when jit
is first called (the compiler's only use of this package), `signatures` parses
``"float32[::1]"`` strings, and `annotate`/`highlight` render source for people.

Before::

    @astjax.jit(signatures=["float64[::1]"])
    def selu(x): ...

After ``astjax build kernels.py``::

    __astjax__/kernels.manifest.json     signature -> artifact, source hash, environment
    __astjax__/selu_<hash>.cpython-311-x86_64-linux-gnu.so
"""
