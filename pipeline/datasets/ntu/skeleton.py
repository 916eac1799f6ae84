"""Reader for raw NTU RGB+D `.skeleton` files (Kinect v2 text format).

Layout of a file: the frame count; then per frame the body count; per body a 10-value body line (bodyID,
clipedEdges, handLeftConfidence, handLeftState, handRightConfidence, handRightState, isRestricted, leanX,
leanY, trackingState), the joint count (25) and one line of 12 values per joint: x y z (metres, camera
space), depthX depthY, colorX colorY (pixels in the 1920x1080 RGB frame), orientationW X Y Z,
trackingState.

Speed: the file is split into lines once; the header structure (a few lines per frame) is walked in
Python, and every joint block of every body is parsed by a single numpy call over all joint lines at
once. Strictness: every count and every line is checked, and errors name the file and the 1-based line.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_JOINTS = 25
JOINT_FIELDS = 12  # x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState
BODY_FIELDS = 10


class SkeletonFormatError(ValueError):
    """A .skeleton file does not follow the Kinect v2 text format (message names file and line)."""


@dataclass
class SkeletonBody:
    """One tracked body: every frame it appears in and all 12 values of each joint."""

    body_id: str
    frames: np.ndarray  # (F,) int, 0-based frame indices where the body appears
    info: np.ndarray  # (F, 10) float64 body lines (bodyID column kept as NaN; see body_id)
    joints: np.ndarray  # (F, 25, 12) float32

    @property
    def xyz(self) -> np.ndarray:
        return self.joints[..., 0:3]

    @property
    def color_xy(self) -> np.ndarray:
        return self.joints[..., 5:7]

    @property
    def tracking(self) -> np.ndarray:
        return self.joints[..., 11].astype(np.uint8)


@dataclass
class SkeletonSequence:
    path: Path
    num_frames: int
    bodies_per_frame: np.ndarray  # (T,) int
    bodies: list[SkeletonBody]  # in order of first appearance


def _error(path: Path, line_no: int, what: str) -> SkeletonFormatError:
    return SkeletonFormatError(f"{path}: line {line_no}: {what}")


def _int_line(path: Path, lines: list[str], i: int, what: str) -> int:
    if i >= len(lines):
        raise _error(path, i + 1, f"unexpected end of file, expected {what}")
    text = lines[i].strip()
    try:
        return int(text)
    except ValueError:
        raise _error(path, i + 1, f"expected {what} (an integer), got {text[:40]!r}") from None


def read_skeleton(path: str | Path) -> SkeletonSequence:
    """Parse a .skeleton file into per-body arrays (every body, every frame, all 12 joint values)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise SkeletonFormatError(f"{path}: not a file")
    try:
        text = path.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: skeleton file not found") from None
    except OSError as e:
        raise SkeletonFormatError(f"{path}: cannot read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise SkeletonFormatError(f"{path}: not a text skeleton file ({e.reason} at byte {e.start})") from None
    lines = text.splitlines()
    if not lines or not text.strip():
        raise SkeletonFormatError(f"{path}: line 1: empty file")

    num_frames = _int_line(path, lines, 0, "the frame count")
    if num_frames < 0:
        raise _error(path, 1, f"negative frame count {num_frames}")

    # Walk the header structure; remember where each body's joint block starts.
    i = 1
    counts: list[int] = []  # grown frame by frame: a corrupt header's frame count allocates nothing
    body_line_idx: list[int] = []  # line index of each body line
    body_frame: list[int] = []
    for t in range(num_frames):
        n = _int_line(path, lines, i, f"the body count of frame {t + 1}")
        if not 0 <= n <= 6:
            raise _error(path, i + 1, f"body count {n} of frame {t + 1} is outside 0..6")
        counts.append(n)
        i += 1
        for _ in range(n):
            body_line_idx.append(i)
            body_frame.append(t)
            joints = _int_line(path, lines, i + 1, "the joint count")
            if joints != NUM_JOINTS:
                raise _error(path, i + 2, f"joint count {joints}, expected {NUM_JOINTS}")
            i += 2 + NUM_JOINTS
            if i > len(lines):
                raise _error(path, len(lines) + 1, f"unexpected end of file inside frame {t + 1} (truncated)")
    if any(line.strip() for line in lines[i:]):
        raise _error(path, i + 1, f"unexpected content after the last of {num_frames} frames")

    nb = len(body_line_idx)
    if nb == 0:
        return SkeletonSequence(path, num_frames, np.asarray(counts, np.int64), [])

    starts = np.asarray(body_line_idx)
    joint_rows = (starts[:, None] + 2 + np.arange(NUM_JOINTS)[None, :]).ravel()
    joints = _parse_block(path, lines, joint_rows, JOINT_FIELDS).reshape(nb, NUM_JOINTS, JOINT_FIELDS)
    ids, info = _parse_body_lines(path, lines, starts)

    frames = np.asarray(body_frame)
    bodies = []
    # keep first-appearance order; group by body ID
    order: dict[str, list[int]] = {}
    for k, bid in enumerate(ids):
        order.setdefault(bid, []).append(k)
    for bid, idx in order.items():
        idx_arr = np.asarray(idx)
        f = frames[idx_arr]
        if np.any(np.diff(f) <= 0):
            line = body_line_idx[idx[int(np.argmax(np.diff(f) <= 0)) + 1]] + 1
            raise _error(path, line, f"body {bid} appears twice in frame {f[np.argmax(np.diff(f) <= 0)] + 1}")
        bodies.append(SkeletonBody(body_id=bid, frames=f, info=info[idx_arr], joints=joints[idx_arr]))
    return SkeletonSequence(path, num_frames, np.asarray(counts, np.int64), bodies)


def _parse_block(path: Path, lines: list[str], rows: np.ndarray, width: int) -> np.ndarray:
    """Parse the given lines as `width` floats each, with one numpy call; name the first bad line."""
    try:  # numpy's C text parser: ~3x faster than float() per token
        values = np.loadtxt([lines[r] for r in rows], dtype=np.float64, ndmin=2)
    except ValueError:
        values = None
    if values is None or values.shape[1] != width:
        for r in rows:  # slow path only to find the culprit
            parts = lines[r].split()
            if len(parts) != width:
                raise _error(path, r + 1, f"expected {width} values, got {len(parts)}")
            try:
                [float(p) for p in parts]
            except ValueError:
                raise _error(path, r + 1, f"non-numeric value in {lines[r].strip()[:60]!r}") from None
        raise _error(path, rows[0] + 1, "malformed joint block")  # pragma: no cover
    if not np.isfinite(values).all():
        r = rows[np.flatnonzero(~np.isfinite(values.reshape(-1, width)).all(axis=1))[0]]
        raise _error(path, r + 1, "non-finite value")
    return values.reshape(-1, width).astype(np.float32)


def _parse_body_lines(path: Path, lines: list[str], rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    ids = []
    rest = []
    for r in rows:
        parts = lines[r].split()
        if len(parts) != BODY_FIELDS:
            raise _error(path, r + 1, f"body line: expected {BODY_FIELDS} values, got {len(parts)}")
        ids.append(parts[0])
        rest.append(" ".join(parts[1:]))
    try:
        values = np.array(" ".join(rest).split(), dtype=np.float64).reshape(len(rows), BODY_FIELDS - 1)
    except ValueError:
        for r, text in zip(rows, rest):
            try:
                [float(p) for p in text.split()]
            except ValueError:
                raise _error(path, r + 1, f"non-numeric value in body line {lines[r].strip()[:60]!r}") from None
        raise  # pragma: no cover
    info = np.concatenate([np.full((len(rows), 1), np.nan), values], axis=1)
    return ids, info
