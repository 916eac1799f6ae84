"""Body cleaning and selection for Kinect skeleton sequences.

Kinect tracks up to six bodies and often hallucinates some (a coat on a chair, a reflection). We follow the
denoising of CTR-GCN / 2s-AGCN (`get_raw_denoised_data.py`, the procedure behind the published NTU numbers):

1. By length: drop bodies present in <= 11 frames (NOISE_LEN_THRES).
2. By spread: a frame is noisy when the body's x-extent exceeds 0.8 x its y-extent (NOISE_SPR_THRES1: people
   are taller than wide); drop bodies with at least 69.754 % noisy frames (NOISE_SPR_THRES2).
3. By motion: keep at most 2 bodies, those with the largest motion energy (sum over joints of the variance
   of x, y, z over the body's non-noisy frames).

If denoising removes every body, the longest body is kept (a sample is never emptied by cleaning). The kept
bodies are ordered by first appearance (then by motion), so person 0 is the one who is there first, and the
same input always gives the same order. Frames where a kept body is absent are zero, as in pyskl.
"""
from __future__ import annotations

import numpy as np

from pipeline.datasets.ntu.skeleton import SkeletonBody, SkeletonSequence

NOISE_LEN_THRES = 11
NOISE_SPR_THRES1 = 0.8
NOISE_SPR_THRES2 = 0.69754
MAX_BODIES = 2


def _noisy_frames(body: SkeletonBody) -> np.ndarray:
    xyz = body.xyz
    extent = xyz.max(axis=1) - xyz.min(axis=1)  # (F, 3)
    return extent[:, 0] > NOISE_SPR_THRES1 * extent[:, 1]


def motion_energy(body: SkeletonBody) -> float:
    """Sum over joints of the variance of x, y, z over the body's clean frames."""
    clean = ~_noisy_frames(body)
    xyz = body.xyz[clean] if clean.any() else body.xyz
    return float(xyz.var(axis=0).sum())


def select_bodies(seq: SkeletonSequence, max_bodies: int = MAX_BODIES) -> list[SkeletonBody]:
    """Denoise, keep the `max_bodies` most moving bodies, order them by first appearance."""
    bodies = seq.bodies
    if not bodies:
        return []
    kept = [b for b in bodies if len(b.frames) > NOISE_LEN_THRES]
    kept = [b for b in kept if _noisy_frames(b).mean() < NOISE_SPR_THRES2]
    if not kept:
        kept = [max(bodies, key=lambda b: len(b.frames))]
    energy = {id(b): motion_energy(b) for b in kept}
    kept = sorted(kept, key=lambda b: -energy[id(b)])[:max_bodies]
    return sorted(kept, key=lambda b: (int(b.frames[0]), -energy[id(b)]))


def stack_bodies(bodies: list[SkeletonBody], num_frames: int) -> np.ndarray:
    """(M, T, 25, 12) float32 of the given bodies over all frames, zeros where a body is absent."""
    out = np.zeros((len(bodies), num_frames, 25, 12), dtype=np.float32)
    for m, body in enumerate(bodies):
        out[m, body.frames] = body.joints
    return out
