"""What a video run returns: per-window probabilities, the whole clip's top-k, persons and timings; its JSON
form (the keys `tools/infer_video.py --json` promises) and the summary a person reads."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from extract.fileio import printable

from pipeline.inference.timeline import segments_table


@dataclass
class InferenceResult:
    video: str
    frames: int
    fps: float
    width: int
    height: int
    class_names: list[str]
    persons: list[dict]
    probs: np.ndarray | None  # (num_classes,) whole clip
    windows: list[dict]
    window_probs: np.ndarray  # (W, num_classes), rows of windows without persons are NaN
    timings: dict = field(default_factory=dict)
    frame_labels: list[str | None] = field(default_factory=list)
    person_window_probs: np.ndarray | None = None  # (persons, W, num_classes), NaN where a person has no window
    segments: list[dict] = field(default_factory=list)  # [{person, start_s, end_s, label, score}], pipeline/timeline
    model: dict = field(default_factory=dict)  # what ran the model: {file, runtime ('torch' / 'onnxruntime')}

    def top(self, probs: np.ndarray, k: int) -> list[dict]:
        order = np.argsort(-probs, kind="stable")[:k]
        return [dict(label=self.class_names[i], class_id=int(i), score=round(float(probs[i]), 6)) for i in order]

    def to_json(self, topk: int = 5) -> dict:
        pwp = self.person_window_probs
        windows = []
        for i, (w, p) in enumerate(zip(self.windows, self.window_probs)):
            preds = self.top(p, topk) if np.isfinite(p).all() else []
            entry = dict(start=w["start"], end=w["end"], persons=w["persons"], predictions=preds)
            if pwp is not None:
                entry["per_person"] = [dict(person=person["id"], predictions=self.top(pwp[k, i], topk))
                                       for k, person in enumerate(self.persons) if np.isfinite(pwp[k, i]).all()]
            windows.append(entry)
        persons = [dict(p) for p in self.persons]
        if pwp is not None:
            for k, person in enumerate(persons):
                seen = np.isfinite(pwp[k]).all(axis=1)
                person["predictions"] = self.top(pwp[k][seen].mean(axis=0), topk) if seen.any() else []
                person["timeline"] = [dict(start=self.windows[i]["start"], end=self.windows[i]["end"],
                                           **self.top(pwp[k, i], 1)[0]) for i in np.flatnonzero(seen)]
        return dict(
            video=self.video, frames=self.frames, fps=round(float(self.fps), 3), width=self.width,
            height=self.height, persons=persons,
            predictions=self.top(self.probs, topk) if self.probs is not None else [],
            windows=windows, segments=self.segments, model=dict(self.model),
            timings={k: round(float(v), 3) for k, v in self.timings.items()},
        )


def summary_text(result: InferenceResult, topk: int = 5) -> str:
    """The few lines a person reads after a run (names from files, class names and the video's path, with
    their control characters escaped: `printable`)."""
    t = result.timings
    lines = [f"{printable(result.video)}: {result.frames} frames, {result.width}x{result.height} at "
             f"{result.fps:.2f} fps; {len(result.persons)} person track(s): "
             + ", ".join(f"id {p['id']} ({p['frames_present']} frames)" for p in result.persons)]
    if result.probs is not None:
        lines.append(f"top-{topk} over {sum(np.isfinite(result.window_probs).all(axis=1))} window(s):")
        lines += [f"  {p['score']:6.1%}  {printable(p['label'])}" for p in result.top(result.probs, topk)]
    pwp = result.person_window_probs
    if pwp is not None and len(result.persons) > 1:
        for k, person in enumerate(result.persons):
            seen = np.isfinite(pwp[k]).all(axis=1)
            if seen.any():
                best = result.top(pwp[k][seen].mean(axis=0), 1)[0]
                lines.append(f"  person {person['id']}: {printable(best['label'])} {best['score']:.1%} "
                             f"(over {int(seen.sum())} window(s))")
    if result.segments:
        lines.append("who does what when (smoothed):")
        lines.append(segments_table(result.segments))
    runtime = f"; model on {result.model['runtime']}" if result.model.get("runtime") else ""
    lines.append(f"pose {t.get('pose_fps', 0):.1f} frames/s; whole run {t.get('total_s', 0):.1f} s "
                 f"({t.get('frames_per_s', 0):.1f} frames/s, start-up {t.get('startup_s', 0):.1f} s{runtime})")
    return "\n".join(lines)
