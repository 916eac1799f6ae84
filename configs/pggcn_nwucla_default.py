# The default model of tools/infer_video.py: NW-UCLA's 10 actions, in the layout video inference fills from
# MediaPipe (its 3D world joints mapped to the 20 Kinect v1 joints). Joint noise and dropout on the Kinect
# joints plus the per-sample min-max scaling bridge Kinect skeletons and estimated ones.
_base_ = ['./_base_/nwucla.py']
train_pipeline = [
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=52),
    dict(type='JointNoise', std=0.015, drop_prob=0.02),
    dict(type='RandomRotate', max_deg=60, axes='xy'),
    dict(type='MinMaxScale'),
    dict(type='PoseInput', noise_px=4.0),
    dict(type='PackInputs', num_person=1),
]
# A fixed epoch schedule (not a time budget), so the result does not depend on machine load:
# 5 epochs of the 5x-repeated training set (25,500 samples), ~9 min on an idle 2-core CPU.
train = dict(epochs=5, warmup_epochs=0.5)
