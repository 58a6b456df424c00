"""The printouts :mod:`parity.porting.printed` reads, each parsed (never evaluated) into number tokens in C order.

Bracketed text (numpy ``repr``/``str``, nested lists, torch ``tensor(...)``, TensorFlow ``tf.Tensor``,
jax ``Array(...)``) keeps its nesting as the shape. Julia and MATLAB/Octave print column-major arrays as
2-D slices (``[:, :, k] =``, ``val(:,:,k) =``); their indices are kept, so Julia's ``a[i, j, k]`` is
element ``[i-1, j-1, k-1]`` of the result. Plain tables are rows of numbers separated by spaces or commas,
blocks separated by blank lines being the first axis (numpy's ``str`` order). Every error is one line
naming the line of the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Iterator

NUMBER: Final = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eEfF][+-]?\d+)?|(?:nan|inf)(?:16|32)?)", re.I)
_TOKEN: Final = re.compile(r"\[|\]|,|\.\.\.|…|⋮|[^\s\[\],]+")
_JULIA_HEADER: Final = re.compile(r"^\s*(\d+(?:\s*[×x]\s*\d+)*)(-element)?\s.*:\s*$")
_JULIA_SLICE: Final = re.compile(r"^\s*\[:,\s*:((?:,\s*\d+)+)\]\s*=\s*$")
_MATLAB_SLICE: Final = re.compile(r"^\s*\w+\(:,\s*:((?:,\s*\d+)+)\)\s*=\s*$")
_MATLAB_NAME: Final = re.compile(r"^\s*\w+\s*=\s*$")
_MATLAB_COLUMNS: Final = re.compile(r"^\s*Columns?\s+\d+(\s+(through|and|to)\s+\d+)?:?\s*$", re.I)
_MATLAB_SCALE: Final = re.compile(r"^\s*1(?:\.0*)?e([+-]?\d+)\s*\*\s*$", re.I)
_ELIDED: Final = ("...", "…", "⋮", "⋱")
_PROMPT: Final = re.compile(r"\A\s*(?:Out\[\d+\]:|>>>|In \[\d+\]:|\w+\s*=(?=\s*[\[a-zA-Z<]))[ \t]*")
_SCALAR: Final = re.compile(r"np\.(float16|float32|float64|bfloat16)\(([^()]*)\)")  # numpy 2's repr of a scalar


@dataclass(frozen=True)
class Tokens:
    """Number tokens in C order of ``shape``; ``dtype``: the element type the text names, if any."""

    values: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: str | None
    format: str


def prepared(text: str) -> str:
    """The text without a leading prompt or assignment (``Out[3]:``, ``>>>``, ``y = ``) on its first line."""
    first, _, rest = text.partition("\n")
    if _MATLAB_NAME.match(first):
        return text  # MATLAB's "a =" heading stands on its own line
    return _PROMPT.sub("", first, count=1) + ("\n" + rest if rest else "")


def detect(text: str) -> str:
    """The format of a printout: julia, matlab, torch, tensorflow, numpy, list or table."""
    if re.search(r"(Array|Matrix|Vector)\{", text) or any(_JULIA_SLICE.match(line) for line in text.splitlines()):
        return "julia"
    lines = text.splitlines()
    if any(_MATLAB_SLICE.match(line) for line in lines) or (lines and _MATLAB_NAME.match(lines[0])):
        return "matlab"
    stripped = text.lstrip()
    for prefix, name in (("tensor(", "torch"), ("Parameter containing", "torch"), ("tf.Tensor(", "tensorflow"),
                         ("<tf.", "tensorflow"), ("array(", "numpy"), ("Array(", "numpy"), ("[", "list")):
        if stripped.startswith(prefix):
            return name
    return "table"


def parse(text: str, format: str) -> Tokens:
    """Number tokens of a printout in ``format`` (text from :func:`prepared`)."""
    if format == "julia":
        return _column_major(text, "julia")
    if format == "matlab":
        return _column_major(text, "matlab")
    if format == "table":
        return _table(text)
    return _bracketed(text, format)


# --- bracketed: numpy, torch, TensorFlow, lists ---------------------------------------------------------------
def _bracketed(text: str, format: str) -> Tokens:
    scalar = _SCALAR.search(text)
    text = _SCALAR.sub(r"\2", text)
    start = text.find("[")
    if start < 0:
        raise ValueError(f"line 1: a {format} printout must hold a bracketed array ([...]), got none "
                         "(a scalar, or not this format: --format chooses another)")
    tokens = list(_tokens(text, start))
    nested, end = _nested(tokens, 0)
    values, shape = _flatten(nested, tokens[0][1])
    rest = text[tokens[end - 1][2]:] + " " + text[:start]
    dtype = _declared_dtype(rest) or (scalar.group(1) if scalar else None)
    return Tokens(tuple(values), shape, dtype, format)


def _tokens(text: str, start: int) -> Iterator[tuple[str, int, int]]:
    """(token, line, end offset) from ``start`` to the bracket closing the first one."""
    depth, line = 0, text.count("\n", 0, start) + 1
    for match in _TOKEN.finditer(text, start):
        line += text.count("\n", start, match.start())
        start = match.start()
        token = match.group()
        yield token, line, match.end()
        depth += (token == "[") - (token == "]")
        if depth == 0:
            return
    raise ValueError(f"line {line}: the array must end with ']', got the end of the text")


def _nested(tokens: list, index: int) -> tuple[list, int]:
    """The list opened at ``tokens[index]`` and the index after its closing bracket."""
    items, index = [], index + 1
    while True:
        token, line, _ = tokens[index]
        if token == "]":
            return items, index + 1
        if token == "[":
            item, index = _nested(tokens, index)
            items.append((item, line))
            continue
        if token != ",":
            items.append((_number(token, line), line))
        index += 1


def _number(token: str, line: int) -> str:
    if token in _ELIDED:
        raise ValueError(f"line {line}: the printout is elided ({token!r}): print every element (numpy: "
                         "np.set_printoptions(threshold=sys.maxsize); torch: torch.set_printoptions(profile='full'); "
                         "Julia: show(IOContext(stdout, :limit => false), \"text/plain\", a))")
    if not NUMBER.fullmatch(token):
        raise ValueError(f"line {line}: element must be a number, got {token!r}")
    return token


def _flatten(nested: list, line: int) -> tuple[list[str], tuple[int, ...]]:
    if not nested:
        raise ValueError(f"line {line}: the array must hold at least one element, got []")
    kinds = {isinstance(item, list) for item, _ in nested}
    if len(kinds) > 1:
        raise ValueError(f"line {nested[0][1]}: a list must hold numbers or lists, not both")
    if kinds == {False}:
        return [item for item, _ in nested], (len(nested),)
    parts = [(_flatten(item, where), where) for item, where in nested]
    first = parts[0][0][1]
    for (_, shape), where in parts:
        if shape != first:
            raise ValueError(f"line {where}: every row must have shape {first} like the first, got {shape}")
    return [v for (values, _), _ in parts for v in values], (len(parts), *first)


def _declared_dtype(text: str) -> str | None:
    # numpy prints an ml_dtypes array's dtype as dtype=dtype(bfloat16)
    match = re.search(r"dtype=(?:dtype\()?(?:torch\.|tf\.|jnp\.|np\.)?(\w+)", text)
    return match.group(1) if match else None


# --- column-major slices: Julia, MATLAB/Octave ----------------------------------------------------------------
def _column_major(text: str, format: str) -> Tokens:
    header, slices = _slices(text.splitlines(), format)
    if not slices:
        raise ValueError(f"line 1: a {format} printout must hold rows of numbers, got none")
    rows, cols = len(slices[0][1]), len(slices[0][1][0][1])
    for index, block in slices:
        _rectangular(block, rows, cols)
    extra = tuple(max(index[a] for index, _ in slices) for a in range(len(slices[0][0])))
    shape = (rows, cols, *extra)
    dims, dtype = header if header else (None, None)
    if dims is not None and (len(dims) == 1 and cols == 1):
        shape = (rows,)
    if dims is not None and dims != shape:
        raise ValueError(f"line 1: the header says {'x'.join(map(str, dims))}, the slices hold {shape}")
    grid = {index: block for index, block in slices}
    values = []
    for i in range(rows):
        for j in range(cols):
            for index in _indices(extra):
                if index not in grid:
                    raise ValueError(f"line 1: slice {list(index)} must be printed, got none")
                values.append(grid[index][i][1][j])
    return Tokens(tuple(values), shape, dtype, format)


def _indices(extra: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """1-based slice indices in C order of the trailing axes."""
    if not extra:
        yield ()
        return
    for first in range(1, extra[0] + 1):
        for rest in _indices(extra[1:]):
            yield (first, *rest)


def _rectangular(block: list, rows: int, cols: int) -> None:
    if len(block) != rows:
        raise ValueError(f"line {block[0][0]}: every slice must have {rows} rows like the first, got {len(block)}")
    for line, row in block:
        if len(row) != cols:
            raise ValueError(f"line {line}: every row must have {cols} numbers like the first, got {len(row)}")


def _slices(lines: list[str], format: str) -> tuple[tuple | None, list[tuple[tuple[int, ...], list]]]:
    """(header (dims, element type) or None, [(1-based slice index, [(line, [tokens])])])."""
    header, slices, index, scale, cursor = None, [], (), 0, None
    label = _JULIA_SLICE if format == "julia" else _MATLAB_SLICE
    for number, line in enumerate(lines, 1):
        match = label.match(line)
        if format == "julia" and header is None and not slices and _JULIA_HEADER.match(line):
            header = _julia_header(line)
        elif match:
            index, scale, cursor = tuple(int(v) for v in match.group(1).split(",")[1:]), 0, None
            slices.append((index, []))
        elif format == "matlab" and _MATLAB_COLUMNS.match(line):
            # MATLAB splits wide matrices into column blocks: later blocks continue the rows already read
            cursor = 0 if slices and slices[-1][0] == index and slices[-1][1] else None
        elif format == "matlab" and _MATLAB_SCALE.match(line):
            scale = int(_MATLAB_SCALE.match(line).group(1))
        elif line.strip() and not (format == "matlab" and _MATLAB_NAME.match(line)):
            row = [_scaled(_number(t, number), scale) for t in line.replace(",", " ").split()]
            if not slices or slices[-1][0] != index:
                slices.append((index, []))
            block = slices[-1][1]
            if cursor is None:
                block.append((number, row))
            elif cursor < len(block):
                block[cursor][1].extend(row)
                cursor += 1
            else:
                raise ValueError(f"line {number}: a 'Columns' block must have {len(block)} rows like the first, "
                                 "got more")
    return header, slices


def _scaled(token: str, exponent: int) -> str:
    """A MATLAB token under a common scale factor '1.0e+03 *' as one exact decimal token."""
    if not exponent or "e" in token.lower() or not NUMBER.fullmatch(token) or token[-1].isalpha():
        return token
    return f"{token}e{exponent}"


def _julia_header(line: str) -> tuple[tuple[int, ...], str | None]:
    dims = tuple(int(v) for v in re.split(r"\s*[×x]\s*", _JULIA_HEADER.match(line).group(1)))
    kind = re.search(r"\b(BFloat16|Float16|Float32|Float64|U?Int\d+|Bool)\b", line)
    return dims, kind.group(1) if kind else None


# --- plain tables -----------------------------------------------------------------------------------------
def _table(text: str) -> Tokens:
    blocks: list[list[tuple[int, list[str]]]] = [[]]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            blocks[-1:] = [blocks[-1], []] if blocks[-1] else [[]]
            continue
        blocks[-1].append((number, [_number(t, number) for t in re.split(r"[\s,;]+", line.strip()) if t]))
    blocks = [block for block in blocks if block]
    if not blocks:
        raise ValueError("line 1: a table must hold at least one row of numbers, got none")
    rows, cols = len(blocks[0]), len(blocks[0][0][1])
    for block in blocks:
        if len(block) != rows:
            raise ValueError(f"line {block[0][0]}: every block must have {rows} rows like the first, got {len(block)}")
        for number, row in block:
            if len(row) != cols:
                raise ValueError(f"line {number}: every row must have {cols} numbers like the first, got {len(row)}")
    values = tuple(v for block in blocks for _, row in block for v in row)
    shape = (len(blocks), rows, cols) if len(blocks) > 1 else (cols,) if rows == 1 else (rows, cols)
    return Tokens(values, shape, None, "table")
