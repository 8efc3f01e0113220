"""Control-flow lowering for normalize.py: ``break``, ``continue`` and early ``return``
become flags that guard the statements after them, and every loop becomes a ``for`` over
``range`` or a ``while`` on a name, left only at the end of its body.

Before::

    for v in xs:
        if v > 0:
            break
        s = s + v

After::

    n2 = len(xs)
    brk = False
    for i1 in range(n2):
        v = xs[i1]
        gt3 = v > 0
        if gt3:
            brk = True
        if not brk:               # the statements after a break are guarded
            s = s + v
        if brk:                   # the loop is left only at the end of its body
            break

``FlowLowering`` is a mixin of ``normalize._Normalizer``: it relies on that class for the
statements and expressions themselves (``statement``, ``atom``, ``test_atom``,
``assign_to``, ``resolve_callee``...).
"""
from astjax.frontend.syntax import assign, call, const, gast, name
from astjax.errors import UnsupportedError


class FlowLowering:
    """The ``break``/``continue``/``return`` flags and the loops of ``_Normalizer``."""

    # -- flags a whole function needs ---------------------------------------------------------
    def _freeze_tests(self, stmts):
        """An ``if`` whose test variable is reassigned inside the ``if`` (a flag guard, a
        short-circuit ``and``) tests a copy instead, so the test names one value throughout:
        transforms replay the same branch later (reverse) or turn it into a mask (vmap)."""
        out = []
        for s in stmts:
            if isinstance(s, gast.If):
                s.body = self._freeze_tests(s.body)
                s.orelse = self._freeze_tests(s.orelse)
                tested = {n.id for n in gast.walk(s.test) if isinstance(n, gast.Name)}
                inner = {n.id for b in (s.body, s.orelse) for x in b for n in gast.walk(x)
                         if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
                if tested & inner:
                    cond = self.fresh("cond")
                    copy_ = assign(cond, s.test)
                    copy_.origin = getattr(s, "origin", None)
                    out.append(copy_)
                    s.test = name(cond)
            elif isinstance(s, (gast.For, gast.While)):
                s.body = self._freeze_tests(s.body)
            out.append(s)
        return out

    def _has_early_return(self, body):
        rets = [n for s in body for n in gast.walk(s) if isinstance(n, gast.Return)]
        return not (len(rets) == 0 or (len(rets) == 1 and body and body[-1] is rets[0]))

    # -- blocks: flags and guards -------------------------------------------------------------
    def block(self, stmts):
        out = []
        for i, s in enumerate(stmts):
            self.origin = getattr(s, "origin", self.origin)
            if isinstance(s, gast.Return):
                if self.ret_flag is None:
                    value = self.atom(s.value, out) if s.value is not None else const(None)
                    out.append(self.stmt(gast.Return(value=value)))
                else:
                    value = self.expr(s.value, out) if s.value is not None else const(None)
                    out.append(self.stmt(assign(self.ret_var, value)))
                    out.append(self.stmt(assign(self.ret_flag, const(True))))
                return out        # the rest of this block is dead code
            if isinstance(s, gast.Break):
                out.append(self.stmt(assign(self._loop_flag("brk", s), const(True))))
                return out
            if isinstance(s, gast.Continue):
                out.append(self.stmt(assign(self._loop_flag("cont", s), const(True))))
                return out
            if getattr(self, "branch_depth", 0):
                try:
                    out += self.statement(s)
                except UnsupportedError as exc:
                    out.append(self._refusal(s, exc))
                    return out        # the rest of this branch never runs past the refusal
            else:
                out += self.statement(s)
            flags = self._flags_set_by(s)
            rest = stmts[i + 1:]
            if flags and rest:
                guard = self._guard(flags, out)
                inner = self.block(rest)
                node = gast.If(test=guard, body=inner or [gast.Pass()], orelse=[])
                node.origin = getattr(rest[0], "origin", self.origin)
                out.append(node)
                return out
        return out

    def _refusal(self, s, exc):
        """``_ax.refuse(message)``: what cannot be transformed on a branch (a plotting call
        behind ``if ax:``) is refused when the branch runs, not when it is only written."""
        node = self.stmt(gast.Expr(value=call(
            gast.Attribute(value=name("_ax"), attr="refuse", ctx=gast.Load()),
            [const(str(exc))])))
        node.origin = getattr(s, "origin", self.origin)
        node.effect = True
        return node

    def _flags_set_by(self, s):
        """Flags a statement may set that must stop the statements after it."""
        flags = []
        if not isinstance(s, (gast.If, gast.For, gast.While)):
            return flags
        inner = list(gast.walk(s))
        if any(isinstance(n, gast.Return) for n in inner) and self.ret_flag:
            flags.append(self.ret_flag)
        if isinstance(s, gast.If) and self.loops:
            loop = self.loops[-1]
            own = [n for n in _walk_same_loop(s)]
            if any(isinstance(n, gast.Break) for n in own):
                flags.append(loop["brk"])
            if any(isinstance(n, gast.Continue) for n in own):
                flags.append(loop["cont"])
        return [f for f in flags if f]

    def _guard(self, flags, out):
        if len(flags) == 1:
            return gast.UnaryOp(op=gast.Not(), operand=name(flags[0]))
        stop = name(flags[0])
        for f in flags[1:]:
            stop = self.emit(out, gast.BinOp(left=stop, op=gast.BitOr(), right=name(f)), "stop")
        return gast.UnaryOp(op=gast.Not(), operand=stop)

    def _loop_flag(self, kind, node):
        if not self.loops:
            self.fail(node, f"'{'break' if kind == 'brk' else 'continue'}' outside a loop")
        return self.loops[-1][kind]

    # -- loops --------------------------------------------------------------------------------
    def _enter_loop(self, body):
        loop = {"brk": None, "cont": None}
        own = [n for s in body for n in _walk_same_loop(s)]
        if any(isinstance(n, gast.Break) for n in own):
            loop["brk"] = self.fresh.exact("brk")
        if any(isinstance(n, gast.Continue) for n in own):
            loop["cont"] = self.fresh.exact("cont")
        if self.ret_flag and any(isinstance(n, gast.Return) for s in body for n in gast.walk(s)):
            loop["ret"] = True
        self.loops.append(loop)
        return loop

    def _loop_body(self, loop, prefix, body, suffix):
        origin = self.origin
        out = []
        if loop["cont"]:
            out.append(self.stmt(assign(loop["cont"], const(False))))
        out += prefix
        out += self.block(body)
        self.origin = origin
        for flag in (loop["brk"], self.ret_flag if loop.get("ret") else None):
            if flag:
                out.append(self.stmt(gast.If(test=name(flag), body=[gast.Break()], orelse=[])))
        out += suffix
        self.loops.pop()
        return out or [gast.Pass()]

    def for_loop(self, s):
        out = []
        if s.orelse:
            self.fail(s, "for ... else is not supported")
        it = s.iter
        prefix = []
        loop = self._enter_loop(s.body)
        it = self._reversed_range(it, out)
        if isinstance(it, gast.Call) and self.resolve_callee(it.func) == ("prim", "range"):
            if it.keywords:
                self.fail(s, "range() takes no keyword arguments")
            bounds = [self.atom(a, out) for a in it.args]
            index = s.target
            if not isinstance(index, gast.Name):
                self.fail(s, "the target of a for over range must be a name")
            loop_var = index.id
        else:
            # for target in seq / enumerate(seq) / zip(a, b): index the sequences
            kind = self.resolve_callee(it.func) if isinstance(it, gast.Call) else None
            loop_var = self.fresh("i")
            if kind in (("method", "items"), ("method", "keys"), ("method", "values")):
                # for k, v in d.items(): index the list of d's keys
                d = self.to_name(self.atom(it.func.value, out), out, "d")
                keys = self.emit(out, call("_ax.dict_keys", [d]), "keys")
                lengths = [self.emit(out, call("len", [keys]), "n")]
                key = self.fresh("key")
                prefix.append(self.stmt(assign(key, gast.Subscript(
                    value=keys, slice=name(loop_var), ctx=gast.Load()))))
                value = gast.Subscript(value=d, slice=name(key), ctx=gast.Load())
                if kind[1] == "items":
                    if not (isinstance(s.target, gast.Tuple) and len(s.target.elts) == 2):
                        self.fail(s, "for over .items() needs two targets")
                    self.assign_to(s.target.elts[0], name(key), prefix)
                    self.assign_to(s.target.elts[1], value, prefix)
                else:
                    self.assign_to(s.target, name(key) if kind[1] == "keys" else value, prefix)
            else:
                lengths = self._sequence_items(it, s.target, loop_var, out, prefix, s)
            n = lengths[0]
            for other in lengths[1:]:
                n = self.emit(out, call("min", [n, other]), "n")
            bounds = [n]
        body = self._loop_body(loop, prefix, s.body, [])
        init = [self.stmt(assign(loop["brk"], const(False)))] if loop["brk"] else []
        rng = call("range", bounds)
        out += init
        out.append(self.stmt(gast.For(target=name(loop_var, gast.Store()), iter=rng,
                                      body=body, orelse=[], type_comment=None)))
        return out

    def _sequence_items(self, it, target, loop_var, out, prefix, s):
        """``for target in it`` over a sequence, as a loop over ``range(n)``: the lengths
        whose minimum is ``n``; ``prefix`` gets the assignments of ``target`` from index
        ``loop_var``.  ``enumerate(seq, start)``, ``zip(a, b, ...)`` and ``reversed(seq)``
        nest (``enumerate(zip(a, b))``, ``zip(a, reversed(b))``)."""
        kind = self.resolve_callee(it.func) if isinstance(it, gast.Call) else None
        if kind in (("prim", "enumerate"), ("prim", "zip"), ("prim", "reversed")) and \
                any(isinstance(a, gast.Starred) for a in it.args):
            self.fail(s, f"{kind[1]}(*...) of a sequence of unknown length is not supported")
        width = {("prim", "enumerate"): 2, ("prim", "zip"): len(getattr(it, "args", ()))}.get(kind)
        if width is not None and not isinstance(target, (gast.Tuple, gast.List)):
            # for pair in zip(a, b): the items' tuple
            parts = [gast.Name(id=self.fresh("item"), ctx=gast.Store(), annotation=None,
                               type_comment=None) for _ in range(width)]
            lengths = self._sequence_items(it, gast.Tuple(elts=parts, ctx=gast.Store()),
                                           loop_var, out, prefix, s)
            self.assign_to(target, gast.Tuple(elts=[name(p.id) for p in parts],
                                              ctx=gast.Load()), prefix)
            return lengths
        if kind == ("prim", "enumerate"):
            if len(target.elts) != 2:
                self.fail(s, "for over enumerate() needs two targets")
            start = it.args[1] if len(it.args) > 1 else next(
                (k.value for k in it.keywords if k.arg == "start"), None)
            index = name(loop_var)
            if start is not None:
                index = gast.BinOp(left=index, op=gast.Add(), right=self.atom(start, out))
            self.assign_to(target.elts[0], index, prefix)
            return self._sequence_items(it.args[0], target.elts[1], loop_var, out, prefix, s)
        if kind == ("prim", "zip"):
            if it.keywords:
                self.fail(s, "zip() with keyword arguments is not supported")
            if len(target.elts) != len(it.args):
                self.fail(s, "for over zip() needs one target per sequence")
            lengths = []
            for arg, t in zip(it.args, target.elts):
                lengths += self._sequence_items(arg, t, loop_var, out, prefix, s)
            return lengths
        if kind == ("prim", "reversed"):
            # for v in reversed(seq): index seq from its end
            seq = self.to_name(self.atom(it.args[0], out), out, "seq")
            n = self.emit(out, call("len", [seq]), "n")
            last = self.emit(out, gast.BinOp(left=n, op=gast.Sub(), right=const(1)), "last")
            back = self.fresh("back")
            prefix.append(self.stmt(assign(back, gast.BinOp(
                left=last, op=gast.Sub(), right=name(loop_var)))))
            self.assign_to(target, gast.Subscript(value=seq, slice=name(back),
                                                  ctx=gast.Load()), prefix)
            return [n]
        seq = self.to_name(self.atom(it, out), out, "seq")
        n = self.emit(out, call("len", [seq]), "n")
        self.assign_to(target, gast.Subscript(value=seq, slice=name(loop_var), ctx=gast.Load()),
                       prefix)
        return [n]

    def _reversed_range(self, it, out):
        """``reversed(range(n))`` / ``reversed(range(a, b))`` as the range that counts down
        (``range(b - 1, a - 1, -1)``); any other iterable unchanged."""
        if not (isinstance(it, gast.Call) and self.resolve_callee(it.func) == ("prim", "reversed")
                and len(it.args) == 1 and not it.keywords):
            return it
        inner = it.args[0]
        if not (isinstance(inner, gast.Call) and self.resolve_callee(inner.func) == ("prim", "range")
                and len(inner.args) in (1, 2) and not inner.keywords):
            return it
        start, stop = ([const(0)] + list(inner.args))[-2:]
        start, stop = self.atom(start, out), self.atom(stop, out)
        first, end = (const(b.value - 1) if _is_int(b) else
                      self.emit(out, gast.BinOp(left=b, op=gast.Sub(), right=const(1)), hint)
                      for b, hint in ((stop, "first"), (start, "end")))
        return call("range", [first, end, const(-1)])

    def while_loop(self, s):
        out = []
        if s.orelse:
            self.fail(s, "while ... else is not supported")
        loop = self._enter_loop(s.body)
        cond = self.fresh("cond")
        test_out = []
        test = self.test_atom(s.test, test_out)
        test_out.append(self.stmt(assign(cond, test)))
        recompute = _clone_stmts(test_out)
        body = self._loop_body(loop, [], s.body, recompute)
        if loop["brk"]:
            out.append(self.stmt(assign(loop["brk"], const(False))))
        out += test_out
        out.append(self.stmt(gast.While(test=name(cond), body=body, orelse=[])))
        return out


def _is_int(node):
    return isinstance(node, gast.Constant) and type(node.value) is int


def _walk_same_loop(node):
    """Nodes of ``node`` that belong to the current loop (not to loops nested in it)."""
    yield node
    for child in gast.iter_child_nodes(node):
        if isinstance(child, (gast.For, gast.While, gast.FunctionDef, gast.Lambda)):
            continue
        yield from _walk_same_loop(child)


def _clone_stmts(stmts):
    import copy
    out = []
    for s in stmts:
        c = copy.deepcopy(s)
        c.origin = getattr(s, "origin", None)
        out.append(c)
    return out
