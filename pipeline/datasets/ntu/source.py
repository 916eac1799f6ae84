"""NTU RGB+D 60/120's piece of the extraction runner: Kinect skeletons (+ the estimator's 2D pose over each RGB
video), the label from the sample's name, the dataset authors' splits."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.datasets.ntu.bodies import select_bodies, stack_bodies
from pipeline.datasets.ntu.names import in_dataset, make_splits, missing_skeletons, parse_sample_name
from pipeline.datasets.ntu.skeleton import read_skeleton
from pipeline.datasets.runner import QUALITY_KEY, RunOptions, RunResult, Sample, SampleSource, run_source

SKELETON_DIR = "nturgb+d_skeletons"
RGB_DIR = "nturgb+d_rgb"
NTU_IMG_SHAPE = (1080, 1920)


def build_ntu_record(skeleton_path: str | Path) -> dict[str, Any]:
    """Read a raw .skeleton file and turn it into a cleaned record (at most 2 bodies)."""
    skeleton_path = Path(skeleton_path)
    name = parse_sample_name(skeleton_path.name)
    seq = read_skeleton(skeleton_path)
    bodies = select_bodies(seq)
    if not bodies:
        raise ValueError(f"{skeleton_path}: no body in any of its {seq.num_frames} frames (missing skeleton)")
    joints = stack_bodies(bodies, seq.num_frames)  # (M, T, 25, 12)
    return dict(
        frame_dir=str(name),
        label=name.label,
        total_frames=seq.num_frames,
        img_shape=NTU_IMG_SHAPE,
        original_shape=NTU_IMG_SHAPE,
        layout="ntu25",
        keypoint=np.ascontiguousarray(joints[..., 0:3]),
        kinect_color=np.ascontiguousarray(joints[..., 5:7]),
        kinect_tracking=joints[..., 11].astype(np.uint8),
        body_ids=[b.body_id for b in bodies],
    )



@dataclass
class ExtractConfig:
    dataset: str
    data_root: Path
    out: Path
    pose: str = "none"  # none | mediapipe | mmpose
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    pose_config: str | None = None
    pose_checkpoint: str | None = None
    limit: int | None = None  # first N samples only (smoke runs)
    min_frame_ratio: float = 0.9  # decoded RGB frames / skeleton frames below this fail the sample
    keep_parts: bool = False  # keep parts/ after the merge (else removed: it is as large as the result)


class NtuSource(SampleSource):
    """NTU RGB+D 60/120: Kinect skeletons (+ the estimator's 2D pose over the RGB video), label from the name."""

    unit = "file"

    def __init__(self, cfg: ExtractConfig, pose_fn: Callable | None = None):
        self.cfg, self.pose_fn, self.dataset = cfg, pose_fn, cfg.dataset
        self._estimator = None

    def __getstate__(self):  # workers build their own estimator (models do not cross processes)
        return dict(self.__dict__, _estimator=None)

    def samples(self, ignored: dict[str, str]) -> list[Sample]:
        """Sample names found under DATA_ROOT, missing-skeleton samples excluded, sorted."""
        cfg = self.cfg
        skel_dir = cfg.data_root / SKELETON_DIR
        if not skel_dir.is_dir():
            raise FileNotFoundError(f"{skel_dir}: folder not found (DATA_ROOT must hold {SKELETON_DIR}/ and "
                                    f"{RGB_DIR}/)")
        missing = missing_skeletons(cfg.dataset)
        names = []
        for p in skel_dir.iterdir():
            if p.suffix != ".skeleton":
                ignored[p.name] = "not a .skeleton file"
                continue
            try:
                name = parse_sample_name(p.name)
            except ValueError:
                ignored[p.name] = "not an NTU sample name (SsssCcccPpppRrrrAaaa.skeleton)"
                continue
            if not p.is_file():
                ignored[p.name] = "not a file"
            elif not in_dataset(name, cfg.dataset):
                ignored[p.name] = f"not part of {cfg.dataset}"
            elif str(name) in missing:
                ignored[p.name] = "on the dataset authors' list of samples with missing skeletons"
            else:
                names.append(str(name))
        names.sort()
        names = names[: cfg.limit] if cfg.limit else names
        return [Sample(n, n) for n in names]

    def make_record(self, sample: Sample) -> dict:
        cfg = self.cfg
        record = build_ntu_record(cfg.data_root / SKELETON_DIR / f"{sample.name}.skeleton")
        if cfg.pose != "none":
            video = cfg.data_root / RGB_DIR / f"{sample.name}_rgb.avi"
            if not video.is_file():
                raise FileNotFoundError(f"{video}: RGB video not found")
            pose = self._estimate(video, record)
            quality = pose.pop("quality", None)
            record.update(pose)
            if quality is not None:
                record[QUALITY_KEY] = quality
        return record

    def _estimate(self, video: Path, record: dict) -> dict:
        if self.pose_fn is not None:
            return self.pose_fn(video, record)
        from extract.align import estimate_sample_pose  # heavy: only when a pose backend is asked for

        return estimate_sample_pose(video, record, self.estimator(), min_frame_ratio=self.cfg.min_frame_ratio)

    def estimator(self):
        if self._estimator is None:
            from extract.backends import build_estimator

            cfg = self.cfg
            self._estimator = build_estimator(cfg.pose, config=cfg.pose_config, checkpoint=cfg.pose_checkpoint)
        return self._estimator

    def prepare(self, todo: list[Sample]) -> None:
        # Once, up front: a bad POSE_CONFIG/POSE_CHECKPOINT or a missing extra stops the run with one
        # message instead of failing every sample. Workers build their own (models do not cross processes).
        if self.pose_fn is None and self.cfg.pose != "none":
            self.estimator()

    def part_ok(self, rec: dict) -> bool:
        return self.cfg.pose == "none" or "pose_source" in rec

    def splits(self, present: list[Sample]) -> dict[str, list[str]]:
        return make_splits([s.name for s in present], self.cfg.dataset)

    def made_by(self) -> dict:
        return dict(dataset=self.cfg.dataset, pose=self.cfg.pose)


def run(cfg: ExtractConfig, pose_fn: Callable | None = None, progress: bool = True) -> RunResult:
    """NTU extraction. pose_fn(video_path, record) -> dict replaces the real pose backend (tests inject a
    fake one)."""
    if cfg.limit is not None and cfg.limit <= 0:
        raise ValueError(f"--limit must be positive, got {cfg.limit}")
    if not 0 < cfg.min_frame_ratio <= 1:
        raise ValueError(f"--min-frame-ratio must be in (0, 1], got {cfg.min_frame_ratio}")
    source = NtuSource(cfg, pose_fn)
    opts = RunOptions(cfg.out, cfg.workers, cfg.shard, cfg.keep_parts, progress)
    return run_source(source, opts, describe_root=str(cfg.data_root / SKELETON_DIR))
