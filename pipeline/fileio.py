"""Safe reading and atomic writing of the project's files.

Annotation pickles may come from elsewhere (pyskl's ntu120_3danno.pkl, a colleague's run), so they are
read with a restricted unpickler that admits numpy arrays and plain containers only: a crafted pickle
cannot run code. Every output is written to a temp file in the same folder and renamed over the target,
so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterator

# (module, name) pairs a pickle of numpy arrays and builtin containers needs, and nothing more.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "tuple"),
    ("builtins", "list"),
    ("builtins", "dict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),
}
_NUMPY_DTYPE_MODULES = ("numpy.dtypes", "numpy")


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for something other than numpy arrays and plain containers."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = (module, name) in _ALLOWED_GLOBALS or (
            module in _NUMPY_DTYPE_MODULES and name.endswith("DType")
        )
        if not allowed:
            raise UnsafePickleError(f"refusing to load {module}.{name}: only numpy arrays and plain containers are allowed")
        return super().find_class(module, name)


def safe_pickle_load(path: str | os.PathLike) -> Any:
    """Load a pickle that may come from an untrusted source (numpy arrays and containers only)."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f).load()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise pickle.UnpicklingError(f"{path}: not a readable pickle ({e})") from None


def safe_pickle_loads(data: bytes) -> Any:
    """Like safe_pickle_load, for bytes already in memory."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside `path`; on success it replaces `path` in one rename, on error it vanishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_pickle_dump(obj: Any, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def atomic_json_dump(obj: Any, path: str | os.PathLike, indent: int | None = 2) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)
