"""A tiny syntax highlighter for generated Python and Cython source (ANSI colours or HTML).

    ansi(source) -> source with ANSI colour codes        (for `astjax show` on a terminal)
    html(source) -> source with <span class="k">...</span> (for `astjax annotate`)

Python's own ``tokenize`` splits the text; Cython's keywords (cdef, nogil, prange, ...) are
coloured like Python's.  Text that does not tokenize (an unterminated string) comes back
uncoloured: highlighting never fails.
"""
import html as _html
import io
import keyword
import tokenize

CYTHON_WORDS = {"cdef", "cpdef", "cimport", "ctypedef", "nogil", "gil", "extern", "inline",
                "struct", "const", "prange", "parallel", "include", "DEF", "IF"}
C_TYPES = {"double", "float", "int", "long", "char", "bint", "Py_ssize_t", "size_t",
           "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
           "uint64_t", "object", "void", "unsigned", "signed", "short", "complex"}

ANSI = {"k": "\033[1;34m", "t": "\033[36m", "s": "\033[32m", "n": "\033[35m",
        "c": "\033[2;37m", "o": "", "f": "\033[1;33m"}
RESET = "\033[0m"


def _classify(source):
    """(kind, text) pieces covering ``source`` exactly; kind is '' for plain text."""
    lines = source.splitlines(True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    pieces, pos, after_def = [], 0, False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT, tokenize.INDENT):
                continue
            start = offsets[tok.start[0] - 1] + tok.start[1]
            end = offsets[tok.end[0] - 1] + tok.end[1] if tok.end[0] <= len(lines) else len(source)
            if start < pos:
                continue
            pieces.append(("", source[pos:start]))
            kind = ""
            if tok.type == tokenize.NAME:
                if tok.string in C_TYPES:
                    kind = "t"
                elif after_def:
                    kind = "f"
                elif keyword.iskeyword(tok.string) or tok.string in CYTHON_WORDS:
                    kind = "k"
                after_def = tok.string == "def"
            elif tok.type == tokenize.STRING:
                kind = "s"
            elif tok.type == tokenize.NUMBER:
                kind = "n"
            elif tok.type == tokenize.COMMENT:
                kind = "c"
            pieces.append((kind, source[start:end]))
            pos = end
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    pieces.append(("", source[pos:]))
    return [(k, t) for k, t in pieces if t]


def ansi(source):
    """``source`` with ANSI colours for a terminal."""
    return "".join(f"{ANSI[k]}{t}{RESET}" if k and ANSI.get(k) else t
                   for k, t in _classify(source))


def html(source):
    """``source`` as escaped HTML with <span class="k|t|s|n|c|f"> around tokens."""
    return "".join(f'<span class="{k}">{_html.escape(t)}</span>' if k else _html.escape(t)
                   for k, t in _classify(source))
