"""Several people through touch and overlap: one landmarker per person, each on a crop around its person.

Why not one landmarker on the whole frame: MediaPipe's PoseLandmarker (VIDEO mode, `num_poses=2`) keeps
two people apart only while its own tracking holds; when two people touch it merges them, when a third
person is in view it follows two of them, and its detector (224 px input) misses people smaller than about a
third of the frame (measured on the shipped clips: the 3-person exercise clip gave 2 persons, one in 305 of
393 frames; the arm-wrestling close-up gave 9 ids). Top-down pipelines solve this by following each person
in a crop of their own, and that is what this module does with the same offline model:

- follow: every known person has their own VIDEO-mode landmarker run on a square crop around where that
  person was last seen (1.5x their whole-body box), so a person next to or in front of another one stays the
  subject of their own crop; the crop stays still while nobody else is in it (see `_crop_for`); someone
  found once and not seen again (a false pose) is followed for PROBATION_LOST frames only (see `_followed`);
- discover: one discovery landmarker (IMAGE mode) looks at one region per frame: every other time the
  whole frame, in between the next of a grid of overlapping square tiles (the short side and 0.6 of it,
  half overlap), so a person too small for a full-frame pass is found within a few frames; while the scene
  is calm (everyone followed seen clearly in the last frame, nobody new or lost lately; after one sweep of
  all tiles) it looks only every CALM_EVERY-th frame, and while someone confirmed stays lost with nothing
  else changing, every LOST_EVERY-th (their own follower keeps looking for them; see `_region`); a pose that is
  already followed is ignored, one much more visible than a follower's pose over it corrects that follower's
  drift, one where a person was recently lost revives that person's id, any other starts a new person;
- in time, not frames: these cadences count frames at about LOOKS_PER_SECOND, the rate inference tracks at
  (every 2nd frame of 30). Where every frame of a 30 fps clip is tracked (the video-folder extraction), discovery
  looks half as often once its first sweep is done, and so does the follower of someone confirmed and unseen
  for LOST_REST frames (see `_looks`);
- two followers that end on the same person (the same keypoints, mirrored or not): the older keeps it, and
  the younger one's crop is searched again for two poses, keeping the one that continues their own pose
  (in a hug the follower of the person behind slides onto the one in front; this finds them again).

The followers run on threads (mediapipe releases the GIL during a pass); a new follower's landmarker is made on
its own thread, beside the other passes of that frame (making one holds a core for 0.12-0.2 s, and on the main
thread it held up every pass of the frame), and every landmarker of a clip loads the bundle verified once, by
path. Making one does not release the GIL, though: passes already running go on, but none starts or returns
until it is made (measured 2026-12-08 in docs/extraction.md, "The crop tracker: what was tried").
A follower's landmarker is never handed on to the next person (it would carry its person's state into them):
one stops following, a fresh one is made in the background for whoever comes next (see `_retire`).
Ids count up from 0 and are never reused.
`track_poses` runs the tracker over a whole video (what inference and the video-folder extraction use).

What it costs (issue #24; `make bench-infer`, or `python -m bench.bench_infer --floor-only`). Each landmark
pass costs about the same whatever the crop (about 12 ms on this 2-core CPU: MediaPipe warps its region to
its fixed 256 px input, so a crop's size only changes a copy); `VideoPoses.calls` counts them. The floor is
MediaPipe's whole-frame landmarker alone (VIDEO mode, 2 poses) on the same frames (`bench/floor_landmarker.py`):
40-43 frames/s on the 1080p clips decoded 960 px wide (decoding included), 58 frames/s on the 340x256 one.
Measured with inference's settings, before -> after the calm discovery and the probation above:

  landmark passes per processed frame  hug (2 people, 1080p) 3.81 -> 2.81, 3-person exercise 4.08 -> 3.27,
                                       arm wrestling 4.89 -> 3.50, NTU one person (1080p) 1.98 -> 1.54,
                                       GMDCSA24's 23 one-person clips 2.86 -> 1.84, people walking in one
                                       by one (1394 frames) 2.30 -> 1.58
  infer_video wall / floor wall        hug 2.34 -> 2.06, arm wrestling 3.08 -> 2.39, NTU 1.72 -> 1.55
  (whole processes, median of 3 runs,  (CPU seconds of the process: 1.79 -> 1.49, 2.71 -> 2.01, 1.22 -> 1.07;
   interleaved)                        the rest of the wall time is mostly the model's child process starting
                                       torch on the same 2 cores)
  following (tracking_gt.json)         hug 0.972/1.000 of the frames, 0 switches (unchanged); 3-person
                                       0.967/0.982/0.997 -> 0.969/0.982/0.997, 0 switches; arm wrestling
                                       0.596 (21 switches)/0.348 (5) -> 0.370 (5)/0.361 (3): fewer short ids
                                       on its false poses; GMDCSA24 main track 0.893 -> 0.907 of the frames,
                                       1.30 -> 1.26 tracks per clip; people walking in one by one: 8 -> 10
                                       tracks, someone entering while it is calm found up to 5 frames later

Most of what is left on the short clips is the first sweep of the tiles (36 processed frames at 960x540,
the whole hug clip) and, on arm wrestling, the close-up's many false poses. What was tried against them and
dropped, with its measurements, is logged in docs/extraction.md ("The crop tracker: what was tried").
"""
from __future__ import annotations

import contextlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable, Iterable

import numpy as np

from .multiperson import MultiPersonPose, PoseFrame, VideoPoses, assemble_tracks, default_workers, landmarker_bundle
from .tracker import TRACK_JOINTS, box_iou, drop_duplicates, keypoint_distance, match_cost, pose_boxes
from .video import prefetch

FOLLOW_SCALE = 1.5  # crop side over the longer side of the person's last whole-body box
MIN_CROP = 24  # px: a smaller crop (a person leaving the frame) counts as not seen
TILE_SCALES = (1.0, 0.6)  # discovery tiles: sides as a share of the frame's short side (plus the whole frame)
MIN_FOLLOW_RATIO = 0.8  # a follower's pose less visible than this share of a fresh detection's there: drifting
DOUBLE_DISTANCE, DOUBLE_IOU = 0.3, 0.6  # two followers on one person, one drifting (see _merge_doubles)
SAME_PERSON = 0.1  # keypoint distance (in box diagonals) under which two poses are one person (hugging: 0.14)
CALM_EVERY = 4  # while the scene is calm, discovery looks every this many processed frames (else every one)
CALM_AFTER = 4  # processed frames after someone was confirmed, revived or lost before the scene can be calm
LOST_EVERY = 2  # while someone confirmed stays lost and nothing else changes, discovery looks this often
LOOKS_PER_SECOND = 15  # the cadences above count processed frames at about this rate (inference: every 2nd of 30)
LOST_REST = 2  # frames someone confirmed is unseen before their follower looks only at LOOKS_PER_SECOND (see `_looks`)
CONFIRM = 2  # frames a newly found person must be seen in before they are confirmed (see `_followed`)
PROBATION_LOST = 1  # frames in a row someone not yet confirmed is still followed while unseen (see `_followed`; 2: more
# passes, the same coverage; 0: loses arm wrestling's black shirt)
SPARES = 1  # fresh follower landmarkers made ahead of need, at most (see `_retire`)
CLEAR = 0.5  # body-joint visibility of a pose that is clearly a person (not a false pose on the furniture)


def discovery_tiles(height: int, width: int, scales: tuple[float, ...] = TILE_SCALES) -> list[tuple[int, int, int, int]]:
    """The whole frame, then square tiles (x0, y0, x1, y1) at each scale of the short side, half overlapping."""
    tiles = [(0, 0, width, height)]
    for scale in scales:
        side = max(1, int(round(min(height, width) * scale)))
        nx = int(np.ceil(max(0, width - side) / (side / 2))) + 1
        ny = int(np.ceil(max(0, height - side) / (side / 2))) + 1
        for y in np.linspace(0, height - side, ny).round().astype(int):
            for x in np.linspace(0, width - side, nx).round().astype(int):
                tile = (int(x), int(y), int(x) + side, int(y) + side)
                if tile not in tiles:
                    tiles.append(tile)
    return tiles


def _close_made(made: Future) -> None:
    with contextlib.suppress(Exception):
        made.result().close()


def follow_crop(box: np.ndarray, height: int, width: int, scale: float = FOLLOW_SCALE) -> tuple[int, int, int, int]:
    """Square crop (x0, y0, x1, y1) around a body box, clipped to the frame."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = scale * max(x1 - x0, y1 - y0, MIN_CROP) / 2
    return (int(max(0, cx - half)), int(max(0, cy - half)), int(min(width, cx + half)), int(min(height, cy + half)))


def touches_inner_edge(box: np.ndarray, tile: tuple[int, int, int, int], height: int, width: int,
                       margin: float = 2.0) -> bool:
    """A pose cut by a tile edge that is not a frame edge is half a person: a neighbouring tile has it whole."""
    x0, y0, x1, y1 = tile
    return bool((x0 > 0 and box[0] <= x0 + margin) or (y0 > 0 and box[1] <= y0 + margin)
                or (x1 < width and box[2] >= x1 - margin) or (y1 < height and box[3] >= y1 - margin))


def discovery_landmarker(**landmarker_kw) -> MultiPersonPose:
    """The landmarker discovery and conflict resolution share: IMAGE mode (it keeps nothing between calls, so
    one can serve clip after clip), two poses per look."""
    return MultiPersonPose(num_poses=2, video=False, **landmarker_kw)


@dataclass
class _Person:
    id: int
    pose: "_Pose"  # where they were last seen
    lost: int = 0
    seen: int = 1  # frames they were seen in, plus one (confirmed once seen in CONFIRM frames)
    landmarker: MultiPersonPose | None = None  # their own, VIDEO mode, one pose
    visibility: float = 1.0  # running mean of their poses' body-joint visibility
    crop: tuple[int, int, int, int] | None = None  # where their landmarker looks (moved lazily)


@dataclass
class _Pose:
    keypoints: np.ndarray  # (33, 2) frame pixels
    scores: np.ndarray  # (33,)
    world: np.ndarray  # (33, 3)

    @cached_property
    def box(self) -> np.ndarray:
        """The box of the joints the landmarker sees (for matching)."""
        return pose_boxes(self.keypoints[None], self.scores[None])[0]

    @cached_property
    def visibility(self) -> float:
        """Mean visibility of the body joints: a follower drifting off its person onto the background keeps
        producing a pose, but a much less visible one than a fresh detection there (see `_corrects`)."""
        return float(self.scores[TRACK_JOINTS].mean())

    @cached_property
    def body_box(self) -> np.ndarray:
        """The box of all 33 landmarks, seen or inferred: the whole body even where it is hidden, so a crop
        built on it does not shrink onto a head when the rest is occluded (which lets the follower drift)."""
        return np.concatenate([self.keypoints.min(axis=0), self.keypoints.max(axis=0)]).astype(np.float32)


@dataclass
class CropPoseTracker:
    """Follow each person in a crop of their own; discover new people one tile per frame.

    `update(frame, timestamp_ms)` takes the frames in order and returns that frame's poses (in the frame's
    own pixels) with their person ids. `max_persons` caps the people followed at once (each costs one
    landmark pass per frame); `max_lost` is how many frames a person may go unseen and keep their id.
    """

    max_persons: int = 4
    max_lost: int = 15
    threads: int = 2
    tile_scales: tuple[float, ...] = TILE_SCALES
    landmarker_kw: dict = field(default_factory=dict)
    discoverer: MultiPersonPose | None = None  # a lent IMAGE-mode one for discovery (`discovery_landmarker`)
    rate: float = LOOKS_PER_SECOND  # processed frames per second (the clip's frame rate over `every`)

    def __post_init__(self) -> None:
        self._people: list[_Person] = []
        # fresh follower landmarkers made ahead of need (see `_retire`); a used one is never handed on
        self._spare: list[Future] = []
        self._maker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="make-follower")
        self._next_id = 0
        self._tick = 0
        self._tiles: list[tuple[int, int, int, int]] = []
        self._size: tuple[int, int] | None = None
        # the bundle is verified once per clip, not once per landmarker
        if "bundle" not in self.landmarker_kw:
            bundle = landmarker_bundle()
            self.landmarker_kw = dict(self.landmarker_kw, **({"bundle": bundle} if bundle is not None else {}))
        # IMAGE mode keeps nothing between calls, so one landmarker serves discovery and conflict resolution
        # (they run one after the other on the main thread): a landmarker costs about 7 passes to create
        if self.discoverer is not None and self.discoverer.video:
            raise ValueError("a lent discoverer must be an IMAGE-mode landmarker (a VIDEO-mode one carries state "
                             "from clip to clip)")
        self._discover = self.discoverer or discovery_landmarker(**self.landmarker_kw)
        self._discover_calls0 = self._discover.calls  # a landmarker lent by the caller has counted other clips
        self._resolve_calls = 0
        self._followers: list[MultiPersonPose] = []  # every follower landmarker made (for `calls`)
        self._frames = 0
        # frames per look at the cadences' own rate: 1 in inference, 2 where every frame of 30 fps is tracked
        self._stride = max(1, round(self.rate / LOOKS_PER_SECOND))
        self._last_change = 0  # the frame someone was last found new, revived or lost (see `_calm`)
        self._last_look = 0  # the frame discovery last looked while the scene was calm
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.threads), thread_name_prefix="follow")

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for person in self._people:
            self._retire(person, replace=False)
        # a spare still being made is closed once made: the clip does not wait for it
        for made in self._spare:
            if not made.cancel():
                made.add_done_callback(_close_made)
        self._maker.shutdown(wait=False)
        if self.discoverer is None:  # a lent one is the caller's
            with contextlib.suppress(Exception):
                self._discover.close()
        self._people, self._spare = [], []

    def __enter__(self) -> "CropPoseTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def calls(self) -> dict[str, int]:
        """The cost model: frames processed, and the landmark passes run on them by kind (followers,
        discovery, conflict resolution)."""
        return dict(frames=self._frames, follow=sum(est.calls for est in self._followers),
                    discover=self._discover.calls - self._discover_calls0 - self._resolve_calls,
                    resolve=self._resolve_calls)

    # -- one frame ---------------------------------------------------------------------------------------
    def update(self, frame: np.ndarray, timestamp_ms: int) -> tuple[PoseFrame, np.ndarray]:
        """RGB frame (H, W, 3) -> (poses found, ids (P,)), in the frame's own pixels."""
        H, W = frame.shape[:2]
        self._frames += 1
        if self._size != (H, W):
            self._size = (H, W)
            self._tiles = discovery_tiles(H, W, self.tile_scales)
        region = self._region()
        # others that count as someone in your crop: seen last frame, and clearly (a false pose on the
        # furniture, visibility ~0.3, must not unsettle the crop of a real person lying next to it)
        clear = [p.pose.box if p.lost == 0 and p.visibility >= 0.5 else None for p in self._people]
        crops = [self._crop_for(p, H, W, [b for j, b in enumerate(clear) if j != k and b is not None])
                 for k, p in enumerate(self._people)]
        followed = [_followed(p) for p in self._people]
        made: dict[int, Future] = {}  # spares handed out here, in order
        for person, follow in zip(self._people, followed):
            if not follow:
                self._retire(person)
            elif person.landmarker is None and self._spare:
                made[person.id] = self._spare.pop(0)
        # a new follower's landmarker is made (or a spare still being made waited for) on its own thread
        # (`_follow`), beside the passes of the others
        jobs = [self._pool.submit(self._follow, p, frame, crop, timestamp_ms, made.get(p.id))
                if follow and self._looks(p) else None for p, crop, follow in zip(self._people, crops, followed)]
        found = self._detect(self._discover, frame, region, timestamp_ms) if region is not None else []
        out = self._settle_followed(frame, crops, [job.result() if job else [] for job in jobs], timestamp_ms)
        self._place_discovered(out, [c for c in found if not touches_inner_edge(c.box, region, H, W)])
        self._merge_doubles(out)
        self._commit(out)
        ids = np.array(list(out), np.int64)
        poses = list(out.values())
        if not poses:
            return PoseFrame.empty(), ids
        return PoseFrame(np.stack([p.keypoints for p in poses]), np.stack([p.scores for p in poses]),
                         np.stack([p.world for p in poses])), ids

    def _looks(self, person: _Person) -> bool:
        """Whether a followed person's landmarker looks for them this frame: always, except someone confirmed
        and unseen for LOST_REST frames or more, who is looked for at LOOKS_PER_SECOND (every 2nd frame where
        every frame of a 30 fps clip is tracked; each person on frames of their own). Where every frame is
        tracked, 3 in 4 of those passes found nobody on the arm-wrestling clip; the ones kept find a returning
        person at the rate inference does, and discovery can still revive them between."""
        return self._stride == 1 or person.seen <= CONFIRM or person.lost < LOST_REST \
            or (self._frames + person.id) % self._stride == 0

    @staticmethod
    def _crop_for(person: "_Person", height: int, width: int, others: list[np.ndarray]) -> tuple[int, int, int, int]:
        """The person's crop, moved only when they near its edge or change size a lot, while nobody else is
        in it. A crop re-centred on every pose feeds a drifting pose back into the next crop (measured: a
        person lying down after a fall slid off the frame in 6 frames); a still crop lets the landmarker's
        own tracking hold them. With someone else in the crop (a hug) it stays tight on the person instead,
        so that they remain its main subject."""
        want = follow_crop(person.pose.body_box, height, width)
        have = person.crop
        crowded = have is not None and any(b[0] < have[2] and b[2] > have[0] and b[1] < have[3] and b[3] > have[1]
                                           for b in others)
        if have is not None and not crowded:
            side, want_side = have[2] - have[0], want[2] - want[0]
            box = person.pose.box
            bx0, by0 = max(0.0, box[0]), max(0.0, box[1])
            bx1, by1 = min(float(width), box[2]), min(float(height), box[3])
            margin = 0.1 * side
            inside = (bx0 >= have[0] + margin or have[0] == 0) and (by0 >= have[1] + margin or have[1] == 0) and \
                     (bx1 <= have[2] - margin or have[2] == width) and (by1 <= have[3] - margin or have[3] == height)
            if inside and 0.8 * side <= want_side <= 1.25 * side:
                return have
        person.crop = want
        return want

    def _region(self) -> tuple[int, int, int, int] | None:
        """Where discovery looks this frame (see `_next_region`), or None: it looks every frame, except while
        the scene is calm (`_calm`), where it looks every CALM_EVERY-th, and while it is settled with someone
        lost, every LOST_EVERY-th. These cadences count frames at LOOKS_PER_SECOND: where every frame of a 30 fps
        clip is tracked (the video-folder extraction), discovery looks at most every 2nd frame, as in inference.
        Not before it has looked at every tile once (the first sweep, always on every frame: a first sweep twice
        as long lost the hug's grey shirt in extraction, 0.986 -> 0.556 of its frames): with two people
        followed, a whole-frame pass (two poses at most) finds them again, and a third person is found only in
        their tile (the 3-person clip's left one: 0.85 of the frames instead of 0.97). A calm first sweep skips
        the whole-frame passes instead, to end sooner. (Looking only every 3rd frame during a calm first sweep
        was tried: NTU 1080p 1.54 -> 1.38 passes per frame, the hug 2.81 -> 2.61, the tracking ground truth
        unchanged, but GMDCSA24's main track fell from 90.7 % to 85.8 % of the frames: a person found late is a
        person lost in the first seconds.)"""
        calm = self._calm()
        swept = self._tick >= 2 * (len(self._tiles) - 1)
        every = (CALM_EVERY if calm else LOST_EVERY if self._settled() else 1) * (self._stride if swept else 1)
        if every == 1 or not swept:
            return self._next_region(skip_whole=calm and CALM_EVERY > 1)
        if self._frames - self._last_look < every:
            return None
        self._last_look = self._frames
        return self._next_region()

    def _calm(self) -> bool:
        """Someone is followed, everyone confirmed was seen in the last frame, clearly, and nobody was
        confirmed, revived or lost in the last CALM_AFTER frames: the followers hold everyone, and discovery
        has little to do. (Someone not yet confirmed does not count: a false pose must not keep it busy.)"""
        return self._settled() and all(p.lost == 0 and p.pose.visibility >= CLEAR
                                       for p in self._people if p.seen > CONFIRM)

    def _settled(self) -> bool:
        """Someone is confirmed, and nobody was confirmed, revived or newly lost in the last CALM_AFTER frames.
        Calm (`_calm`) if everyone confirmed is also seen clearly; else someone stays lost or unclear, their own
        follower keeps looking for them, and discovery looks every LOST_EVERY-th frame."""
        return any(p.seen > CONFIRM for p in self._people) and self._frames - self._last_change > CALM_AFTER

    def _next_region(self, skip_whole: bool = False) -> tuple[int, int, int, int]:
        """Where discovery looks when it looks: every other time the whole frame (most people are found there
        at once), in between the next tile, in turn (`skip_whole`: the next tile at once). (Passing over the
        tiles that followed people's crops cover was tried: arm wrestling 3.50 -> 2.91 passes per frame, the
        hug 2.81 -> 2.67, but GMDCSA24's main track fell from 90.7 % to 87.1 % of the frames, with no fewer
        passes there: a discovery pass inside a follower's crop is what corrects a drifting follower.)"""
        tick, self._tick = self._tick, self._tick + 1
        if skip_whole and tick % 2 == 0 and len(self._tiles) > 1:
            tick, self._tick = tick + 1, tick + 2
        if tick % 2 == 0 or len(self._tiles) == 1:
            return self._tiles[0]
        return self._tiles[1 + (tick // 2) % (len(self._tiles) - 1)]

    def _settle_followed(self, frame: np.ndarray, crops: list, followed: list[list[_Pose]],
                         timestamp_ms: int) -> dict[int, _Pose]:
        """Each person's pose from their own crop; oldest first, so the older keeps a contested pose and the
        younger one's crop is searched for two poses (their landmarker slid onto someone already taken)."""
        out: dict[int, _Pose] = {}
        for person, crop, options in zip(self._people, crops, followed):
            pose = next((p for p in options if not any(_same(p, other) for other in out.values())), None)
            if pose is None and options:
                self._resolve_calls += 1
                options = _continuations(person, self._detect(self._discover, frame, crop, timestamp_ms))
                pose = next((p for p in options if not any(_same(p, other) for other in out.values())), None)
            if pose is not None:
                out[person.id] = pose
        return out

    def _place_discovered(self, out: dict[int, _Pose], candidates: list[_Pose]) -> None:
        """Newly found poses not followed yet: a recently lost person's (their id back), else someone new."""
        keep = drop_duplicates(np.array([c.keypoints for c in candidates]), np.array([c.scores for c in candidates]),
                               SAME_PERSON) if candidates else []
        for cand in (c for c, k in zip(candidates, keep) if k):
            if any(_same(cand, pose) or _part_of(cand, pose) for pose in out.values()):
                continue
            drifted = next((pid for pid, pose in out.items() if _corrects(cand, pose)), None)
            if drifted is not None:  # the follower is sliding off its person onto the background: put it back
                out[drifted] = cand
                continue
            person = self._revive(cand, out)
            if person is None and len(self._people) < self.max_persons:
                person = self._new_person(cand)
            if person is not None:
                out[person.id] = cand

    def _commit(self, out: dict[int, _Pose]) -> None:
        """Remember where everyone was seen; forget people lost for longer than max_lost."""
        for person in self._people:
            pose = out.get(person.id)
            if pose is None:
                person.lost += 1
                # the frame someone confirmed is lost is a change, staying lost is not (see `_settled`); someone
                # unconfirmed not seen again was most likely a false pose
                if person.seen > CONFIRM and person.lost == 1:
                    self._last_change = self._frames
                continue
            if person.lost or person.seen == CONFIRM:  # found again, or just confirmed
                self._last_change = self._frames
            person.pose, person.lost, person.seen = pose, 0, person.seen + 1
            person.visibility = 0.8 * person.visibility + 0.2 * pose.visibility
        for person in [p for p in self._people if p.lost > self.max_lost]:
            self._people.remove(person)
            self._retire(person)

    # -- helpers -----------------------------------------------------------------------------------------
    def _follow(self, person: _Person, frame: np.ndarray, crop: tuple[int, int, int, int],
                timestamp_ms: int, made: Future | None = None) -> list[_Pose]:
        """The person's pose in a crop around where they were last seen, if it can be them (else []). Someone
        without a landmarker gets the spare handed to them (`made`; waited for if it is still being made: it
        is further along than a new one would be), else a new one."""
        if person.landmarker is None:
            person.landmarker = made.result() if made is not None else self._new_follower()
        if crop[2] - crop[0] < MIN_CROP or crop[3] - crop[1] < MIN_CROP:
            return []
        return _continuations(person, self._detect(person.landmarker, frame, crop, timestamp_ms))

    @staticmethod
    def _detect(est: MultiPersonPose, frame: np.ndarray, region: tuple[int, int, int, int],
                timestamp_ms: int) -> list[_Pose]:
        x0, y0, x1, y1 = region
        pf = est.detect(frame[y0:y1, x0:x1], timestamp_ms)
        offset = np.array([x0, y0], np.float32)
        return [_Pose(k + offset, s, w) for k, s, w in zip(pf.keypoints, pf.scores, pf.world)]

    def _revive(self, cand: _Pose, taken: dict[int, _Pose]) -> _Person | None:
        """The recently lost person this newly found pose most likely is (box overlap or nearby keypoints)."""
        lost = [p for p in self._people if p.id not in taken]
        if not lost:
            return None
        cost = match_cost(np.stack([p.pose.keypoints for p in lost]), np.stack([p.pose.scores for p in lost]),
                          cand.keypoints[None], cand.scores[None])[:, 0]
        best = int(np.argmin(cost))
        return lost[best] if np.isfinite(cost[best]) else None

    def _merge_doubles(self, out: dict[int, _Pose]) -> None:
        """Two followers on one person with slightly different poses (one of them drifting): the one seen
        longer keeps it. Looser than `_same`, but the two must also share most of their box (hugging
        people: IoU 0.48, keypoints 0.14 box diagonals apart)."""
        seen = {p.id: p.seen for p in self._people}
        ids = sorted(out, key=lambda i: -seen.get(i, 0))
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1:]:
                if a in out and b in out and _double(out[a], out[b]):
                    del out[b]

    def _new_follower(self) -> MultiPersonPose:
        est = MultiPersonPose(num_poses=1, **self.landmarker_kw)
        self._followers.append(est)
        return est

    def _retire(self, person: _Person, replace: bool = True) -> None:
        """Stop following someone: their landmarker is closed, never handed to the next person. A VIDEO-mode
        landmarker carries its person into the next one's first frames (measured, issue #24: its region from
        the last frame, and a visibility smoothed at alpha 0.1 that no blank frame resets; the new person's
        joint scores were off by 0.10-0.21 in their first 5 frames, and in 2 of 8 handovers on the
        arm-wrestling clip it held a pose 30-100 px away for 40 frames where a fresh one found none). So a
        fresh one is made in its place, on a thread of its own while the followers run (making one holds a
        core for 0.12-0.16 s, about 7 passes); whoever needs one next takes it, and waits for it if it is
        not ready yet (`_follow`; making a second one then cost +8 % on the arm-wrestling clip). A fresh
        landmarker is a fresh landmarker: which thread made it, and when, changes nothing in the poses."""
        if person.landmarker is None:
            return
        used, person.landmarker = person.landmarker, None
        self._maker.submit(used.close)
        if replace and len(self._spare) < SPARES:
            self._spare.append(self._maker.submit(self._new_follower))

    def _new_person(self, cand: _Pose) -> _Person:
        person = _Person(self._next_id, cand, visibility=cand.visibility)
        self._next_id += 1
        self._people.append(person)
        return person


MAX_POSE_WIDTH = 960  # frames are decoded at most this wide for the landmarker (it runs at 224/256 px anyway)
MIN_TRACK_SECONDS = 1.0  # a person seen for less in all is a false detection or a momentary double: dropped


def auto_pose_every(fps: float) -> int:
    """Landmarker on every 2nd frame of videos at 20 fps or more (the skipped frames are interpolated).

    Why: on a 2-core CPU the landmarker manages ~25-35 frames/s, short of real time once start-up is
    counted; actions change little in 1/15 s, and the test pipeline resamples each window to the
    model's clip length anyway. Slower videos keep every frame. `--pose-every 1` turns this off. (The
    video-folder extraction tracks every frame: see `pipeline.datasets.videos.TRACKING`.)
    """
    return 2 if fps >= 20 else 1


def track_poses(frames: Iterable[np.ndarray], fps: float, full_size: tuple[int, int] | None = None,
                on_frame: Callable[[], None] | None = None, every: int = 1, workers: int | None = None,
                on_start: Callable[[], None] | None = None, max_persons: int = 4, min_seconds: float = 0.0,
                discoverer: MultiPersonPose | None = None, **landmarker_kw) -> VideoPoses:
    """Follow everyone in a video's RGB frames -> one zero-padded PersonTrack per person.

    People are followed one crop each (`CropPoseTracker`), so two people who touch
    stay two and a third person is not dropped. With `every` > 1 the landmarkers see every `every`-th frame
    and the frames between are interpolated (see `assemble_tracks`). `full_size` (height, width) is the
    original size when frames come decoded smaller: keypoints are scaled to it. `workers` threads run the
    followers; the next frames are decoded meanwhile on a thread of their own. `on_start()` is called once
    the landmarkers are ready, `on_frame()` once per decoded frame. A track seen for less than `min_seconds`
    in all (a false detection, or a second follower that latched onto someone for a moment) is dropped:
    no action window could use it anyway. `discoverer`: an IMAGE-mode landmarker to discover people with,
    lent by a caller that tracks many clips in turn (it keeps nothing between calls, so the tracks are the
    same as with the tracker's own; it saves making one per clip).
    """
    fps = fps if fps and fps > 0 else 30.0  # a container with no usable rate (0, negative, NaN) is taken as 30
    step = 1000.0 / fps
    per_frame: list[tuple[np.ndarray, PoseFrame]] = []
    size: tuple[int, int] | None = None
    total = 0
    with prefetch(frames, depth=8) as decoded, CropPoseTracker(
            max_persons=max_persons, threads=workers or default_workers(), landmarker_kw=landmarker_kw,
            discoverer=discoverer, rate=fps / every) as tracker:
        if on_start is not None:
            on_start()
        for i, frame in enumerate(decoded):
            total += 1
            if on_frame is not None:
                on_frame()
            if size is None:
                size = frame.shape[:2]
            if i % every:
                continue
            pf, ids = tracker.update(frame, int(round(i * step)))
            if full_size is not None and tuple(full_size) != tuple(size):
                pf.keypoints *= np.array([full_size[1] / size[1], full_size[0] / size[0]], np.float32)
            per_frame.append((ids, pf))
        calls = tracker.calls
    counts: dict[int, int] = {}
    for ids, _ in per_frame:
        for i in ids.tolist():
            counts[i] = counts.get(i, 0) + 1
    # a short clip (a second or two) must not lose everyone to this: at most a third of its frames
    min_detections = max(2, min(int(round(min_seconds * fps / every)), len(per_frame) // 3))
    blips = {i for i, n in counts.items() if n < min_detections} if min_seconds > 0 else set()
    if blips:
        per_frame = [(np.where(np.isin(ids, list(blips)), -1, ids), pf) for ids, pf in per_frame]
    out_size = tuple(full_size) if full_size is not None else (size or (0, 0))
    poses = assemble_tracks(per_frame, out_size, every=every, frames=total)
    poses.calls = calls
    return poses


def _followed(person: _Person) -> bool:
    """Whether the person's own landmarker looks for them this frame: always once they are confirmed (seen in
    CONFIRM frames), before that only until they have gone unseen PROBATION_LOST frames in a row (a false pose
    found once is never there again; they keep their id for max_lost frames, and discovery can still revive
    them, but they no longer cost a landmark pass per frame)."""
    return person.seen > CONFIRM or person.lost <= PROBATION_LOST


def _continuations(person: _Person, poses: list[_Pose]) -> list[_Pose]:
    """The poses that can continue this person's last pose (box overlap or nearby keypoints), best first."""
    if not poses:
        return []
    cost = match_cost(person.pose.keypoints[None], person.pose.scores[None], np.stack([p.keypoints for p in poses]),
                      np.stack([p.scores for p in poses]))[0]
    return [poses[i] for i in np.argsort(cost, kind="stable") if np.isfinite(cost[i])]


def _relation(a: _Pose, b: _Pose) -> tuple[float, float]:
    """(keypoint distance in box diagonals, allowing a left/right flip; box IoU) of two poses."""
    dist = keypoint_distance(a.keypoints[None], a.scores[None], b.keypoints[None], b.scores[None])[0, 0]
    return float(dist), float(box_iou(a.box[None], b.box[None])[0, 0])


def _double(a: _Pose, b: _Pose) -> bool:
    dist, iou = _relation(a, b)
    return dist < DOUBLE_DISTANCE and iou > DOUBLE_IOU


def _corrects(found: _Pose, followed: _Pose) -> bool:
    """A freshly detected pose over a followed one that is much more visible: the follower is drifting off
    its person (measured on the 3-person clip: 0.66 against 0.97, the boxes overlapping by 0.4). Visibility
    alone cannot tell drift: a person lying on the floor after a fall drops from 0.7 to 0.4 and is still them."""
    dist, iou = _relation(found, followed)
    return iou >= 0.3 and dist < 0.5 and found.visibility * MIN_FOLLOW_RATIO > followed.visibility


def _part_of(a: _Pose, b: _Pose) -> bool:
    """A newly found pose that lies mostly inside a followed one and resembles it: a partial view of the
    same person (a half-body detection), not someone new."""
    lo, hi = np.maximum(a.box[:2], b.box[:2]), np.minimum(a.box[2:], b.box[2:])
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    area = float(np.prod(np.clip(a.box[2:] - a.box[:2], 1e-6, None)))
    return inter / area > 0.7 and _relation(a, b)[0] < DOUBLE_DISTANCE


def _same(a: _Pose, b: _Pose) -> bool:
    """Two poses of one person: near-identical keypoints (allowing a left/right flip) or near-identical boxes."""
    dist, iou = _relation(a, b)
    return dist < SAME_PERSON or iou > 0.8
