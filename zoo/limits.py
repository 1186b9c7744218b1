"""What a checkpoint may hold, checked before anything is built from it (standard library only: a leaf).

A ``config.json`` and a ``.safetensors`` header may come from anyone: a Hub repository is as trustworthy as its
owner, and the sha256 that ``config.json`` gives for the weights comes from the same hand. So the zoo reads both
the way safetensors reads its header before a byte of data: sizes are capped before a file is read, JSON is parsed
with its nesting bounded, every value is checked against a small schema (types, ranges, lengths, nesting), and
the tensors the checkpoint implies are compared, by name, dtype and shape, with the weights file's header before
any module is built or any tensor allocated. A value out of bounds is one ``ValueError`` naming it.

The bounds and why they are what they are: docs/checkpoints.md, "Untrusted checkpoints".
"""
from __future__ import annotations

import json
import math
import os
import re
import reprlib
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

# Files. The published config.json files are 10 to 14 kB; a safetensors header of a 16-layer network, 20 kB.
MAX_CONFIG_BYTES = 1 << 20
MAX_HEADER_BYTES = 1 << 18

# Architecture (zoo.architecture) and export spec (zoo.exported). The presets: 5 layers, widths 16 to 96, kernel
# sizes 3 to 7, 1 input channel, 10 classes, SO(2) band limit 3 on a grid of 16 rotations.
MAX_LAYERS = 16
MAX_WIDTH = 512
MAX_KERNEL_SIZE = 15
MAX_IN_CHANNELS = 16
MAX_CLASSES = 10_000
MAX_SO2_FREQUENCY = 16
MAX_SO2_GRID_SIZE = 256
MAX_CHANNELS = 4096  # one layer's channels in the export: 512 wide is at most 2,937 channels (SO(2), band limit 16)
MAX_MIN_INPUT_SIZE = 1024
# What a whole network may cost: values stored (a float32 each, 24 MB; the largest preset stores 2.3 million) and
# forward MFLOPs per 28x28 image (the largest preset: 428). A load runs the network on 20 probe images.
MAX_STORED_VALUES = 6_000_000
MAX_MFLOPS = 1_000

# What a file the zoo reads may weigh, checked before it is downloaded or read.
MAX_WEIGHTS_BYTES = 8 + MAX_HEADER_BYTES + 4 * MAX_STORED_VALUES

_show = reprlib.Repr()
_show.maxstring = _show.maxother = 60
_show.maxlist = _show.maxdict = 4
_show.maxlevel = 2


def show(value: object) -> str:
    """A short repr of an untrusted value, whatever its size."""
    return _show.repr(value)


# ------------------------------------------------------------------------------------------------------ schema --

class Spec:
    """What one JSON value must be. ``check(value, path)`` raises ``ValueError`` naming ``path`` if it is not."""

    def check(self, value: object, path: str) -> None:
        raise NotImplementedError

    def fail(self, value: object, path: str, expected: str | None = None) -> None:
        raise ValueError(f"{path} must be {expected or self}, got {show(value)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Int(Spec):
    lo: int
    hi: int

    def __str__(self) -> str:
        return f"a positive int up to {self.hi:,}" if self.lo == 1 else f"an int from {self.lo:,} to {self.hi:,}"

    def check(self, value, path):
        if not _is_int(value) or not self.lo <= value <= self.hi:
            self.fail(value, path)


@dataclass(frozen=True)
class Real(Spec):
    lo: float = -math.inf
    hi: float = math.inf

    def __str__(self) -> str:
        return "a finite number" + ("" if math.isinf(self.lo) and math.isinf(self.hi) else
                                    f" from {self.lo:g} to {self.hi:g}")

    def check(self, value, path):
        if not (_is_int(value) or isinstance(value, float)) or not math.isfinite(value) \
                or not self.lo <= value <= self.hi:
            self.fail(value, path)


@dataclass(frozen=True)
class Text(Spec):
    max_len: int
    pattern: str | None = None  # a regular expression the whole string matches
    choices: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.choices:
            return f"one of {', '.join(map(repr, self.choices))}"
        return f"a string of at most {self.max_len:,} characters" + (f" matching {self.pattern}" if self.pattern
                                                                     else "")

    def check(self, value, path):
        if not isinstance(value, str) or len(value) > self.max_len or (self.choices and value not in self.choices) \
                or (self.pattern and not re.fullmatch(self.pattern, value)):
            self.fail(value, path)


@dataclass(frozen=True)
class Bool(Spec):
    def __str__(self) -> str:
        return "true or false"

    def check(self, value, path):
        if not isinstance(value, bool):
            self.fail(value, path)


@dataclass(frozen=True)
class Nullable(Spec):
    spec: Spec

    def check(self, value, path):
        if value is not None:
            self.spec.check(value, path)


@dataclass(frozen=True)
class ListOf(Spec):
    """A list (a tuple too, from Python) of ``min_len`` to ``max_len`` items, each ``item``; ``first``, when given,
    is what the first item must be instead (a row such as ``["conv", 1, 48, 7]``)."""

    item: Spec
    max_len: int
    min_len: int = 0
    first: Spec | None = None

    def __str__(self) -> str:
        count = (f"{self.min_len}" if self.min_len == self.max_len else f"{self.min_len} to {self.max_len:,}")
        return f"a list of {count} items"

    def check(self, value, path):
        if not isinstance(value, (list, tuple)) or not self.min_len <= len(value) <= self.max_len:
            self.fail(value, path)
        for i, item in enumerate(value):
            (self.first if i == 0 and self.first is not None else self.item).check(item, f"{path}[{i}]")


@dataclass(frozen=True)
class Matrix(Spec):
    """A list of rows of equal length, each a list of finite numbers."""

    max_rows: int
    max_cols: int

    def __str__(self) -> str:
        return f"a list of at most {self.max_rows:,} rows of equal length (at most {self.max_cols:,} numbers)"

    def check(self, value, path):
        ListOf(ListOf(Real(), self.max_cols, 1), self.max_rows, 1).check(value, path)
        if len({len(row) for row in value}) != 1:
            raise ValueError(f"{path} must be {self}, got ragged rows of lengths {sorted({len(row) for row in value})}")


@dataclass(frozen=True)
class Record(Spec):
    """A JSON object with known keys: an unknown key or a missing ``required`` one is refused."""

    fields: Mapping[str, Spec]
    required: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "an object"

    def check(self, value, path):
        if not isinstance(value, dict):
            self.fail(value, path)
        unknown = sorted(str(k) for k in value if k not in self.fields)
        if unknown:
            raise ValueError(f"{path + ' has ' if path else ''}keys this zoo does not know ({show(unknown)}); "
                             f"known: {', '.join(self.fields)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise ValueError(f"{path or 'it'} lacks {missing}")
        for key, spec in self.fields.items():
            if key in value:
                spec.check(value[key], f"{path}.{key}" if path else key)


@dataclass(frozen=True)
class Json(Spec):
    """Free-form JSON (a recipe, metrics, versions): strings, finite numbers, booleans, null, and lists and
    objects nested at most ``depth`` deep, each of at most ``max_items`` items."""

    depth: int = 4
    max_items: int = 10_000
    max_text: int = 10_000
    top: type | None = dict  # what the value itself must be (None: anything)

    def __str__(self) -> str:
        return ("an object" if self.top is dict else "JSON") + f" nested at most {self.depth} deep"

    def check(self, value, path):
        if self.top is not None and not isinstance(value, self.top):
            self.fail(value, path)
        self._check(value, path, self.depth)

    def _check(self, value, path, depth):
        if value is None or isinstance(value, bool) or _is_int(value):
            return
        if isinstance(value, float):
            return Real().check(value, path)
        if isinstance(value, str):
            return Text(self.max_text).check(value, path)
        if not isinstance(value, (dict, list)):
            self.fail(value, path, "JSON")
        if depth == 0:
            self.fail(value, path, "a number, a string, true, false or null (nested too deep)")
        if len(value) > self.max_items:
            self.fail(f"{len(value):,} items", path, f"at most {self.max_items:,} items")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                Text(200).check(key, f"{path} key")
            self._check(item, f"{path}.{key}" if isinstance(value, dict) else f"{path}[{key}]", depth - 1)


@dataclass(frozen=True)
class Check(Spec):
    """A check written as a function ``check(value, path)``, for what a schema cannot say (fields that depend on
    each other)."""

    function: Callable[[object, str], None] = field(repr=False)

    def check(self, value, path):
        self.function(value, path)


# ------------------------------------------------------------------------------------------------------- files --

def checked_size(path: Path, limit: int, what: str) -> int:
    """``path``'s size in bytes, refused if above ``limit`` (before a byte of it is read)."""
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{path} is {size:,} bytes, more than the {limit:,} a {what} may have; it was not read")
    return size


def parse_json(data: bytes, source: str) -> object:
    """JSON from untrusted bytes: UTF-8, no NaN or Infinity, nesting refused before it exhausts the stack."""
    def refuse(constant: str):
        raise ValueError(f"{constant} is not a number JSON allows")

    try:
        return json.loads(data.decode("utf-8"), parse_constant=refuse)
    except RecursionError:
        raise ValueError(f"{source} is nested too deeply to be JSON this zoo wrote") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, an int of over 4,300 digits, NaN
        raise ValueError(f"{source} is not valid JSON ({e})") from None


def read_json(path: str | os.PathLike, limit: int = MAX_CONFIG_BYTES, what: str = "config.json") -> object:
    path = Path(path)
    checked_size(path, limit, what)
    return parse_json(path.read_bytes(), str(path))


DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as a safetensors header describes it (or as a checkpoint implies it)."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return DTYPE_SIZES[self.dtype] * math.prod(self.shape)

    def __str__(self) -> str:
        return f"{self.dtype}{list(self.shape)}"


_HEADER_ENTRY = Record({"dtype": Text(8, choices=tuple(DTYPE_SIZES)), "shape": ListOf(Int(0, 1 << 40), 8),
                        "data_offsets": ListOf(Int(0, 1 << 50), 2, 2)}, required=("dtype", "shape", "data_offsets"))


def read_safetensors_header(path: str | os.PathLike) -> dict[str, TensorInfo]:
    """The tensors a ``.safetensors`` file holds, read from its header alone (8-byte length, then JSON), and
    checked against the file: offsets that tile the data exactly, data that ends where the file ends."""
    path = Path(path)
    size = path.stat().st_size
    if size < 8:
        raise ValueError(f"{path} is corrupt or truncated ({size} bytes: not even a safetensors header); download it "
                         "again")
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        if length > MAX_HEADER_BYTES or 8 + length > size:
            raise ValueError(f"{path} is not a readable safetensors file: its header claims {length:,} bytes "
                             f"(the file has {size:,}, a header may have {MAX_HEADER_BYTES:,})")
        header = parse_json(f.read(length), f"{path}'s header")
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a readable safetensors file: its header is not a JSON object")
    tensors, spans = {}, []
    for name, entry in header.items():
        if name == "__metadata__":
            Json(depth=1, max_text=10_000).check(entry, f"{path}: __metadata__")
            continue
        try:
            _HEADER_ENTRY.check(entry, f"{path}: {show(name)}")
        except ValueError as e:
            raise ValueError(f"{e}; it is not a readable safetensors file") from None
        tensor = TensorInfo(entry["dtype"], tuple(entry["shape"]))
        begin, end = entry["data_offsets"]
        if end - begin != tensor.nbytes:
            raise ValueError(f"{path} is not a readable safetensors file: {name} is {tensor} ({tensor.nbytes:,} "
                             f"bytes) at offsets {begin}..{end}")
        tensors[name] = tensor
        spans.append((begin, end))
    position = 0
    for begin, end in sorted(spans):
        if begin != position:
            raise ValueError(f"{path} is not a readable safetensors file: its tensors overlap or leave gaps")
        position = end
    if 8 + length + position != size:
        raise ValueError(f"{path} is corrupt or truncated: {size:,} bytes, its header describes "
                         f"{8 + length + position:,}; download it again")
    return tensors


def check_tensors(found: Mapping[str, TensorInfo], expected: Mapping[str, TensorInfo], source: str, hint: str,
                  advice: str) -> None:
    """Refuse tensors that are missing, unexpected, or of another dtype or shape than ``expected``; the error
    reads "{source} {hint}: {what differs}. {advice}"."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(name[:80] for name in set(found) - set(expected))
    wrong = [f"{k} is {found[k]}, expected {expected[k]}" for k in sorted(set(expected) & set(found))
             if found[k] != expected[k]]
    if missing or unexpected or wrong:
        details = "; ".join(f"{label}: {items[:4]}{' ...' if len(items) > 4 else ''}" for label, items in
                            (("missing", missing), ("unexpected", unexpected), ("wrong dtype or shape", wrong))
                            if items)
        raise ValueError(f"{source} {hint}: {details}. {advice}")
