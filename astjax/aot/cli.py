"""The ``astjax`` command (also ``python -m astjax``): build ahead of time, read what the
compiler made, manage the cache.

    astjax show kernels.py:selu --transform grad          the generated gradient
    astjax show kernels.py:selu --stage cython -s "float32[:]"   the generated .pyx
    astjax build mypkg/ [-o OUTDIR] [-j 2]                 prebuilt extensions in __astjax__/
    astjax annotate kernels.py:selu -o selu.html          user lines beside generated code
    astjax cache info|list|clear

Exit status: 0 success; 1 a problem in the user's code or its build (syntax error, function
not found, no decorated functions, a transform that refuses the function); 2 a usage error
(bad arguments, missing file, bad signature string); 3 a failed build, whose compiler log the
message names.  Errors go to stderr as ``astjax: error: ...``.
"""
import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_BUILD = 0, 1, 2, 3
TRANSFORMS = ("grad", "value_and_grad", "vjp", "jvp", "vmap", "jacfwd", "jacrev", "hessian",
              "jit")
STAGES = ("python", "core", "cython")


class CliError(Exception):
    """An error the command reports in one message, with its exit status."""

    def __init__(self, message, status=EXIT_USER):
        super().__init__(message)
        self.status = status


# ----------------------------------------------------------------------------- helpers

def _color_wanted(choice, stream):
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def _existing_file(path):
    p = Path(path)
    if not p.exists():
        raise CliError(f"{path}: no such file or directory", EXIT_USAGE)
    return p


def load_target(target):
    """The live object named by ``MODULE.py:FUNC`` (the module is imported by path)."""
    from astjax.frontend.discover import ImportProblem, import_path, resolve
    path, sep, qualname = target.rpartition(":")
    if not sep or not path or not qualname:
        raise CliError(f"expected MODULE.py:FUNCTION, got {target!r}", EXIT_USAGE)
    path = _existing_file(path)
    try:
        module = import_path(path)
    except ImportProblem as exc:
        raise CliError(str(exc)) from None
    obj = resolve(module, qualname)
    if obj is None or not callable(obj):
        names = sorted(n for n, v in vars(module).items()
                       if inspect.isfunction(inspect.unwrap(v) if callable(v) else v)
                       and getattr(inspect.unwrap(v), "__module__", None) == module.__name__)
        raise CliError(f"{path}: no function {qualname!r} (functions defined there: "
                       f"{', '.join(names) or 'none'})")
    return obj


def _argnums(text):
    try:
        nums = tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or a comma-separated list of "
                                         f"integers, got {text!r}") from None
    return nums[0] if len(nums) == 1 else nums


def _in_axes(text):
    """``0`` -> 0; ``0,None`` -> (0, None), as jax.vmap's in_axes."""
    try:
        axes = tuple(None if a.strip() == "None" else int(a) for a in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers or None separated by commas, "
                                         f"got {text!r}") from None
    return axes[0] if len(axes) == 1 else axes


def _transform_fn(name):
    import astjax
    fn = getattr(astjax, name, None)
    if inspect.ismodule(fn):     # `astjax.jit` is the module once imported by that name
        fn = getattr(fn, name, None)
    if fn is None:
        raise CliError(f"the {name!r} transformation is not available in this version of "
                       f"astjax (available: {', '.join(available_transforms())})")
    return fn


def available_transforms():
    import astjax
    return [t for t in TRANSFORMS if callable(getattr(astjax, t, None))]


def transformed(obj, name, argnums=None, signature=None):
    """``obj`` under transformation ``name`` (None: as it is), ready for astjax.source;
    ``argnums`` is vmap's in_axes for vmap."""
    plain = inspect.unwrap(obj)
    if name is None:
        return obj
    transform = _transform_fn(name)
    if name == "jit":
        from astjax.aot.lowering import as_jitted
        return as_jitted(obj)
    kwargs = {}
    if argnums is not None:
        key = "in_axes" if name == "vmap" else "argnums"
        kwargs[key] = argnums
    if name == "jvp":
        from astjax.autodiff import jacobians as higher
        nums = argnums if argnums is None or isinstance(argnums, tuple) else (argnums,)
        return higher.jvp_function(plain, nums)     # f_jvp(params..., tangents...)
    if name == "vjp":
        return _vjp_function(transform, obj, signature)
    return transform(plain, **kwargs)


def _vjp_function(vjp, obj, signature):
    """vjp takes primal values: zeros of the signature's types (as JAX would need them too);
    its vjp function carries the generated source."""
    from astjax.aot.lowering import jitted_signatures
    from astjax.aot.signatures import parse_signature
    sig = parse_signature(signature) if signature else next(iter(jitted_signatures(obj)), None)
    if sig is None:
        raise CliError("--transform vjp needs example argument types: pass --signature "
                       "(e.g. -s \"float64[:]\")", EXIT_USAGE)
    return vjp(inspect.unwrap(obj), *sig.examples())[1]


def generated_source(obj, transform=None, stage="python", argnums=None, signature=None):
    """The text ``astjax show`` prints."""
    import astjax
    stage = stage or ("cython" if transform == "jit" else "python")
    if stage == "cython":
        return lowered_for(obj, transform, argnums, signature)[0].source
    if transform in (None, "jit"):
        return astjax.source(inspect.unwrap(obj), stage=stage)   # its core form
    return astjax.source(transformed(obj, transform, argnums, signature), stage=stage)


def signature_for(obj, signature=None):
    """The signature to compile ``obj`` for: the one given, else its first declared one."""
    from astjax.aot.lowering import jitted_signatures
    from astjax.aot.signatures import parse_signature
    if signature:
        return parse_signature(signature)
    declared = jitted_signatures(obj)
    if not declared:
        name = getattr(inspect.unwrap(obj), "__qualname__", obj)
        raise CliError(f"the Cython of {name} depends on the argument types: pass --signature "
                       f"(e.g. -s \"float64[::1]\") or declare @astjax.jit(signatures=[...])",
                       EXIT_USAGE)
    return declared[0]


def lowered_for(obj, transform=None, argnums=None, signature=None):
    """(codegen.cython.Lowered, BuildFlags) of jit(transform(obj)) at the signature."""
    from astjax.aot import lowering
    sig = signature_for(obj, signature)
    target = obj if transform in (None, "jit") else \
        transformed(obj, transform, argnums, sig.text)
    lowered, _, flags = lowering.lower(target, sig)
    refusal = next((n.refusal for n in lowered.notes if n.refusal is not None), None)
    if refusal is not None:         # e.g. grad of a function whose result is an array
        where = getattr(inspect.unwrap(obj), "__qualname__", "the function")
        raise CliError(f"{transform or 'jit'}({where}) at {sig.text}: {refusal}")
    return lowered, flags


def _human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


# ----------------------------------------------------------------------------- commands

def cmd_show(args):
    if args.signature:
        from astjax.aot.signatures import parse_signature
        parse_signature(args.signature)           # a bad one is a usage error (exit 2)
        stage = args.stage or ("cython" if args.transform == "jit" else "python")
        if stage != "cython" and args.transform != "vjp":
            raise CliError("--signature picks the types jit compiles for: it applies to "
                           "--stage cython (or --transform jit) and --transform vjp, "
                           f"not to the {stage} source of "
                           f"{args.transform or 'the function'}", EXIT_USAGE)
    obj = load_target(args.target)
    axes = args.in_axes if args.transform == "vmap" else args.argnums
    text = generated_source(obj, args.transform, args.stage, axes, args.signature)
    if _color_wanted(args.color, sys.stdout):
        from astjax.aot.highlight import ansi
        text = ansi(text)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return EXIT_OK


def cmd_build(args):
    from astjax.aot import build as aot
    for p in args.paths:
        _existing_file(p)
    report = aot.build(args.paths, outdir=args.outdir, jobs=args.jobs, backend=args.backend,
                       march=args.march, progress=None if args.quiet else _progress)
    if not report.functions:
        raise CliError(report.nothing_found_message())
    if not report.jobs:
        raise CliError("nothing to build: no jit function declares signatures\n  "
                       + "\n  ".join(report.skipped))
    if report.failures:
        for failure in report.failures:
            print(f"astjax: error: {failure}", file=sys.stderr)
        return EXIT_BUILD
    return EXIT_OK


def _progress(line):
    print(line, flush=True)


def cmd_annotate(args):
    from astjax.aot import annotate
    obj = load_target(args.target)
    path, _, name = args.target.rpartition(":")
    out = Path(args.output or f"{Path(path).stem}.{name}.html")
    axes = args.in_axes if args.transform == "vmap" else args.argnums
    lowered, flags = lowered_for(obj, args.transform, axes, args.signature)
    title = f"{args.transform}({args.target})" if args.transform else args.target
    page = annotate.page(obj, lowered.source, notes=lowered.notes,
                         directives=flags.directives(), title=title)
    out.write_text(page.html, encoding="utf-8")
    print(f"wrote {out} ({page.summary})")
    return EXIT_OK


def cmd_cache(args):
    from codegen import cache
    {"info": _cache_info, "list": _cache_list, "clear": _cache_clear}[args.action](cache, args)
    return EXIT_OK


def _cache_info(cache, args):
    info = cache.info()
    if args.json:
        print(json.dumps(info, indent=1, default=str))
        return
    env = info["environment"]
    print(f"path:        {info['path']}")
    print(f"entries:     {info['entries']} ({_human_bytes(info['bytes'])}), "
          f"{info['failed_or_incomplete']} failed or incomplete")
    print(f"compiler:    {' '.join(info['compiler'])}")
    print(f"threads:     {info['num_threads']}")
    print(f"versions:    astjax {env['astjax']}, Cython {env['cython']}, NumPy "
          f"{env['numpy']}, Python {env['python'].split()[0]} ({env['platform']})")


def _cache_list(cache, args):
    entries = cache.list_entries()
    if args.json:
        print(json.dumps(entries, indent=1, default=str))
        return
    if not entries:
        print(f"the cache at {cache.cache_dir()} is empty")
        return
    print(f"{'built':<19}  {'status':<10}  {'size':>9}  {'seconds':>7}  name / signature")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["built_at"])) \
            if e["built_at"] else "-"
        secs = f"{e['build_seconds']:.2f}" if e["build_seconds"] is not None else "-"
        what = e["name_hint"] or e["kind"] or e["module"]
        sig = f" {e['signature']}" if e.get("signature") else ""
        print(f"{when:<19}  {e['status']:<10}  {_human_bytes(e['bytes']):>9}  {secs:>7}  "
              f"{what}{sig}  [{e['module']}]")


def _cache_clear(cache, args):
    result = cache.clear()
    print(f"removed {result['removed']} entries ({_human_bytes(result['bytes'])}) from "
          f"{cache.cache_dir()}")
    if result["busy"]:
        print(f"kept {len(result['busy'])} entries being built right now: "
              f"{', '.join(result['busy'])}")


# ----------------------------------------------------------------------------- parser

def make_parser():
    parser = argparse.ArgumentParser(
        prog="astjax", description="astjax: JAX's transformations for plain NumPy code, "
        "compiled ahead of time or inspected.",
        epilog="Exit status: 0 ok, 1 a problem in your code, 2 usage error, 3 build failed.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    target_help = "a function, as path/to/module.py:FUNCTION"
    sig_help = ('argument types, e.g. "float32[:, :]" or "(float64[::1], float)" '
                "(default: the function's declared signature)")

    show = sub.add_parser("show", help="print the source astjax generates for a function",
                          description="Print the source astjax generates for a function: "
                          "its core form, a transformation of it, or the Cython jit makes.")
    show.add_argument("target", metavar="MODULE.py:FUNC", help=target_help)
    show.add_argument("-t", "--transform", choices=TRANSFORMS,
                      help="the transformation to apply (default: none)")
    show.add_argument("--argnums", type=_argnums, metavar="N[,N...]",
                      help="argnums of grad, jvp, jacfwd, jacrev, hessian")
    show.add_argument("--in-axes", type=_in_axes, metavar="AXES",
                      help="in_axes of vmap, e.g. 0 or 0,None")
    show.add_argument("--stage", choices=STAGES,
                      help="python: generated Python (the default, except for --transform "
                      "jit); core: after normalization; cython: the .pyx jit compiles")
    show.add_argument("-s", "--signature", help=sig_help)
    show.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="highlight the source (auto: when stdout is a terminal)")
    show.set_defaults(run=cmd_show)

    build = sub.add_parser(
        "build", help="compile the jit functions of modules/packages ahead of time",
        description="Find the @astjax.jit functions of modules and packages by reading their "
        "source, build an extension per declared signature, and put them in __astjax__/ "
        "beside each module (or OUTDIR), where importing the module finds them without a "
        "compiler.")
    build.add_argument("paths", nargs="+", metavar="PATH", help="a .py file or a package dir")
    build.add_argument("-o", "--outdir", help="put artifacts here instead of beside each "
                       "module (point ASTJAX_PREBUILT_PATH at it when importing)")
    build.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                       help="parallel builds (default: the number of CPUs)")
    build.add_argument("--backend", choices=("cython",), default="cython",
                       help="the code generator (only cython for now)")
    build.add_argument("--march", default="",
                       help="-march for the C compiler: '' portable (default), 'native' for "
                       "this CPU only (artifacts then refuse to load on another CPU)")
    build.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    build.set_defaults(run=cmd_build)

    ann = sub.add_parser("annotate", help="write an HTML page: user lines beside generated "
                         "code, coloured by what runs in C",
                         description="Write an HTML page in the spirit of `cython -a`: each "
                         "line of the function beside the code generated for it, coloured by "
                         "how much of it runs through the Python C-API (white: pure C).")
    ann.add_argument("target", metavar="MODULE.py:FUNC", help=target_help)
    ann.add_argument("-o", "--output", metavar="OUT.html",
                     help="the page to write (default: MODULE.FUNC.html here)")
    ann.add_argument("-t", "--transform", choices=[t for t in TRANSFORMS if t != "jit"],
                     help="annotate jit of this transformation of the function")
    ann.add_argument("--argnums", type=_argnums, metavar="N[,N...]",
                     help="argnums of grad, jvp, jacfwd, jacrev, hessian")
    ann.add_argument("--in-axes", type=_in_axes, metavar="AXES", help="in_axes of vmap")
    ann.add_argument("-s", "--signature", help=sig_help)
    ann.set_defaults(run=cmd_annotate)

    cache = sub.add_parser("cache", help="inspect or clear jit's cache of built extensions",
                           description="Inspect or clear jit's on-disk cache. Its "
                           "directory is $ASTJAX_CACHE_DIR if set, else "
                           "$XDG_CACHE_HOME/astjax if $XDG_CACHE_HOME is set, else "
                           "~/.cache/astjax. A directory not owned by you or writable by "
                           "others is refused (with a warning) for a private one in the "
                           "temp directory.")
    cache.add_argument("action", choices=("info", "list", "clear"))
    cache.add_argument("--json", action="store_true", help="machine-readable output")
    cache.set_defaults(run=cmd_cache)
    return parser


def _version():
    try:
        import astjax
        return f"astjax {astjax.__version__}"
    except Exception:                 # noqa: BLE001  --version must work even when broken
        return "astjax (version unknown)"


def main(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    from codegen.errors import BuildError

    from astjax.errors import AstjaxError
    from astjax.aot.signatures import SignatureError
    try:
        status = args.run(args)
        sys.stdout.flush()                     # a closed pipe shows up here, not at exit
        return status
    except BrokenPipeError:                    # e.g. `astjax cache list --json | head -1`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit cannot fail again
        return EXIT_OK
    except CliError as exc:
        status, message = exc.status, str(exc)
    except SignatureError as exc:
        status, message = EXIT_USAGE, str(exc)
    except BuildError as exc:
        status, message = EXIT_BUILD, str(exc)
    except AstjaxError as exc:
        status, message = EXIT_USER, str(exc)
    except KeyboardInterrupt:
        return 130
    print(f"astjax: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
