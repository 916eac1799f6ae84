"""Safe reading and atomic writing of the project's files.

Annotation pickles may come from elsewhere (pyskl's ntu120_3danno.pkl, a colleague's run), so they are
read with a restricted unpickler that admits numpy arrays and plain containers only: a crafted pickle
cannot run code. Every output is written to a temp file in the same folder and renamed over the target,
so an interrupted run never leaves a half-written file behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

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


def file_sha256(path: str | os.PathLike) -> str:
    """A file's content digest (SHA-256, hex), read in chunks: what records name their inputs by."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def one_line(e: BaseException, path: str | os.PathLike | None = None) -> str:
    """An exception as one whole line (never cut: the end of a message is often the useful part), its
    control characters escaped (`printable`): a name from a file cannot clear the screen or forge a line.
    With `path`, the line starts with that file unless it names it already (every error names its file)."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        text = f"{e.filename}: {e.strerror}"
    else:
        text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = printable(" ".join(text.split())) or type(e).__name__
    if path is None or printable(str(path)) in msg:
        return msg
    return f"{printable(str(path))}: {msg}"


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """`path` as a Path if it is a regular file; else FileNotFoundError ('<path>: <what> not found') or
    ValueError ('<path>: not a file'), the one-line errors every loader gives."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found")
    if not path.is_file():
        raise ValueError(f"{path}: not a file")
    return path


class UnsafePickleError(pickle.UnpicklingError, ValueError):
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
    """Load a pickle that may come from an untrusted source (numpy arrays and containers only).

    Whatever is wrong with the file (missing, a folder, empty, truncated, crafted, absurd sizes) comes out
    as FileNotFoundError or ValueError, one line naming the file."""
    path = require_file(path)
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e.strerror or e})") from None
    except MemoryError:
        raise ValueError(f"{path}: not a readable pickle (it asks for more memory than this machine has)") from None
    except Exception as e:  # UnpicklingError, EOFError, struct/index/type errors of a damaged stream
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"{path}: not a readable pickle ({reason})") from None


# ------------------------------------------------------------------------------------------- writing
#
# Temp files are named .<target>.<host>-<pid>.<random>.tmp beside their target, so that a run killed with
# SIGKILL leaves files that the next run can recognise as stale (their process is gone) and remove.


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: 0644 under the usual umask
_HOST = socket.gethostname().replace(".", "_")


def temp_name(name: str, kind: str = "tmp") -> str:
    """A hidden temp name beside `name` that `remove_stale_temps` recognises once its process is gone."""
    return f".{name}.{_HOST}-{os.getpid()}.{os.urandom(4).hex()}.{kind}"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp path beside `path` for writers that need a file name (video writers); on success it
    replaces `path` in one rename, on error (or SIGTERM, see `pipeline.cli`) it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, _FILE_MODE)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temp file beside `path`; on success it replaces `path` in one rename, on error it vanishes.
    The file gets the mode a plain open() would (the user's umask), not mkstemp's 0600."""
    with atomic_path(path) as tmp:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def atomic_pickle_dump(obj: Any, path: str | os.PathLike) -> None:
    with atomic_open(path, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def atomic_json_dump(obj: Any, path: str | os.PathLike, indent: int | None = 2) -> None:
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


_TEMP_RE = re.compile(r"^\..+\.(?P<host>[^.]+)-(?P<pid>\d+)\.[^.]+\.[A-Za-z0-9]+$")
STALE_AFTER_S = 24 * 3600  # a temp file from another host is only presumed dead after a day


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Remove the temp files of runs that were killed (SIGKILL, power loss) from `folder`; returns how many.

    A temp of this host whose process no longer exists is stale at once; one from another host (a shared
    file system under a cluster's shards) after STALE_AFTER_S, since its process cannot be checked."""
    folder = Path(folder)
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    now = time.time()
    for entry in entries:
        m = _TEMP_RE.match(entry.name) if entry.name.startswith(".") else None
        if m is None or entry.is_symlink():
            continue
        stale = False
        if m["host"] == _HOST:
            stale = not _pid_alive(int(m["pid"]))
        else:
            with contextlib.suppress(OSError):
                stale = now - entry.stat().st_mtime > STALE_AFTER_S
        if stale:
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)  # a half-written sample store
                else:
                    os.unlink(entry.path)
                removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def refuse_overwriting_inputs(outputs: Iterable[str | os.PathLike | None],
                              inputs: Iterable[str | os.PathLike | None]) -> None:
    """ValueError if an output path is one of the input files (same file, also through links or `..`)."""
    ins = [Path(p) for p in inputs if p is not None]
    for out in outputs:
        if out is None:
            continue
        out = Path(out)
        for src in ins:
            if _same_file(out, src):
                raise ValueError(f"{out}: this output would overwrite the input {src}; choose another path")


def check_output_file(path: str | os.PathLike | None) -> None:
    """ValueError now, before any work, for an output path that can never be written as a file; also
    clears the stale temp files of killed runs beside it."""
    if path is None:
        return
    path = Path(path)
    check_regular_output(path)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{path}: cannot write into {parent} (permission denied)")
            break
    remove_stale_temps(path.parent)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


# Control characters: C0 (tab and newline too), DEL, C1, and the Unicode line and paragraph separators.
_CONTROL_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape_control(m: re.Match) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` safe to print on a terminal: every control character (ESC, BEL, CR, newline, ..., DEL, C1,
    U+2028/2029) is shown as \\xNN or \\uNNNN, so a name that comes from a file (a class name, a sample
    name, a path) can neither clear the screen, set the window title, nor start a line of its own."""
    return _CONTROL_CHARS.sub(_escape_control, str(text))


def refuse_same_outputs(outputs: dict[str, str | os.PathLike | None]) -> None:
    """ValueError if two outputs ({option: path}) are one file (also through links or `..`): the second
    would replace the first."""
    given = [(name, Path(p)) for name, p in outputs.items() if p is not None]
    for i, (name_a, a) in enumerate(given):
        for name_b, b in given[i + 1:]:
            if _same_file(a, b):
                raise ValueError(f"{b}: {name_a} and {name_b} name the same file; choose two paths")


def check_regular_output(path: str | os.PathLike | None) -> None:
    """ValueError for an output path that exists and is no regular file: the atomic writers rename their
    temp file over the target, which would replace a device, a pipe or a socket (say /dev/full) with a file."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: not a regular file (a device, a pipe or a socket); give a file name")
