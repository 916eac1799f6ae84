"""Import the NW-UCLA Multiview Action3D skeletons (shipped in assets/) into our annotation format.

NW-UCLA (Wang et al., CVPR 2014) has 10 actions by 10 subjects seen from 3 Kinect v1 cameras, 20 joints,
no RGB. It is small enough to train on a CPU, which makes it the project's real accuracy benchmark.
Standard cross-view protocol: train on views v01 + v02 (1020 samples), test on v03 (464 samples).

Without RGB, the pose stream gets the 3D joints projected into the Kinect v1 colour camera, with its usual
intrinsics at 640x480: fx = fy = 525.0, cx = 319.5, cy = 239.5, as seen by a non-mirrored camera
(u = cx - fx x / z, v = cy - fy y / z, since Kinect x points to the sensor's left and y up). The record
says so (pose_source='kinect_v1_projection').
"""
from __future__ import annotations

import json
import tarfile
import zlib
from pathlib import Path

import numpy as np

from pipeline.datasets.runner import RunOptions, Sample, SampleSource, run_source
from pipeline.data.classes import NWUCLA_CLASSES as CLASS_NAMES
from pipeline.config import ROOT
from extract.fileio import refuse_overwriting_inputs, require_file

ARCHIVE = ROOT / "assets/nw_ucla/all_sqe.tar.gz"
DEFAULT_ANN = ROOT / "data/nwucla/annotations.pkl"
FX = FY = 525.0
CX, CY = 319.5, 239.5
IMG_SHAPE = (480, 640)


def project_kinect_v1(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., 3) camera-space metres -> (..., 2) colour pixels (non-mirrored) and (...) score (0 = joint absent)."""
    present = np.abs(joints).sum(-1) > 0
    z = np.where(present, np.maximum(joints[..., 2], 1e-3), 1.0)
    uv = np.stack([CX - FX * joints[..., 0] / z, CY - FY * joints[..., 1] / z], axis=-1)
    uv[~present] = 0
    return uv.astype(np.float32), present.astype(np.float32)


def record_from_json(d: dict) -> dict:
    joints = np.asarray(d["skeletons"], dtype=np.float32)
    if joints.ndim != 3 or joints.shape[1:] != (20, 3):
        raise ValueError(f"{d.get('file_name')}: skeletons must be T x 20 x 3, got {joints.shape}")
    uv, score = project_kinect_v1(joints)
    label = int(d["label"])
    if not 1 <= label <= len(CLASS_NAMES):
        raise ValueError(f"{d.get('file_name')}: label {label} outside 1..{len(CLASS_NAMES)}")
    if not np.isfinite(joints).all():
        raise ValueError(f"{d.get('file_name')}: skeletons hold NaN or infinite values")
    return dict(frame_dir=d["file_name"], label=label - 1, total_frames=len(joints),
                img_shape=IMG_SHAPE, original_shape=IMG_SHAPE, layout="kinect_v1_20",
                keypoint=joints[None], pose_keypoint=uv[None], pose_score=score[None],
                pose_source="kinect_v1_projection", pose_mirrored=False, pose_frames=len(joints))


def read_archive(archive: Path) -> list[dict]:
    """Every JSON member of the archive as a record, sorted by name; one line naming the archive (and the
    member) for anything wrong: a bad member fails the import, not just its sample (the archive is ours)."""
    require_file(archive, "NW-UCLA archive")
    records = []
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".json"):
                    try:
                        records.append(record_from_json(json.load(tar.extractfile(member))))
                    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as e:
                        raise ValueError(f"{archive}: member {member.name}: {e}") from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise ValueError(f"{archive}: not a readable NW-UCLA archive (.tar.gz) ({' '.join(str(e).split())})") from None
    if not records:
        raise ValueError(f"{archive}: holds no NW-UCLA sample (*.json)")
    names = [r["frame_dir"] for r in records]
    if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{archive}: sample names (file_name) must be unique strings")
    return sorted(records, key=lambda r: r["frame_dir"])


class NwuclaSource(SampleSource):
    """NW-UCLA's piece of the extraction runner: the shipped archive's skeletons, the cross-view split
    (train v01 + v02, test v03). The archive is read once; each sample's record is already made then."""

    dataset = "nwucla"
    unit = "sample"

    def __init__(self, archive: Path):
        self.archive = Path(archive)
        self.records: dict[str, dict] = {}

    def samples(self, ignored: dict[str, str]) -> list[Sample]:
        self.records = {r["frame_dir"]: r for r in read_archive(self.archive)}
        return [Sample(name, name) for name in self.records]

    def make_record(self, sample: Sample) -> dict:
        return self.records[sample.name]

    def splits(self, present: list[Sample]) -> dict[str, list[str]]:
        view = {s.name: s.name.rsplit("_", 1)[-1] for s in present}
        return dict(xview_train=[n for n, v in view.items() if v in ("v01", "v02")],
                    xview_val=[n for n, v in view.items() if v == "v03"])


def import_nwucla(archive: Path = ARCHIVE, out: Path = DEFAULT_ANN) -> Path:
    """The archive -> `out` (annotations.pkl with the xview split, and its sample store), through the one
    extraction runner (so it has the runner's lock, resume, manifest and checks)."""
    out = Path(out)
    refuse_overwriting_inputs([out], [archive])
    if out.suffix != ".pkl":
        raise ValueError(f"{out}: the annotation file must be a .pkl file")
    result = run_source(NwuclaSource(archive), RunOptions(out.parent, name=out.stem, progress=False),
                        describe_root=str(archive))
    return result.merged or out
