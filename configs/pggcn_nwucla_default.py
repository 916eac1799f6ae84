# The default model of tools/infer_video.py and the main model of `make bench-accuracy`: NW-UCLA's 10
# actions, in the layout video inference fills from MediaPipe (its 3D world joints mapped to the 20 Kinect v1
# joints). Joint noise and dropout on the Kinect joints plus the per-sample min-max scaling bridge Kinect
# skeletons and estimated ones.
#
# CPU recipe: the learning rate follows a cosine over 30 minutes of wall-clock training (capped at the
# 65 epochs of the full recipe), so on a 2-core CPU `make train CONFIG=configs/pggcn_nwucla_default.py`
# ends after 30 minutes whatever the machine's speed; a GPU gets through far more epochs in that time.
_base_ = ['./_base_/nwucla.py']
train_pipeline = [
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=52),
    dict(type='JointNoise', std=0.015, drop_prob=0.02),
    dict(type='RandomRotate', max_deg=60, axes='xy'),
    dict(type='PoseInput', source='projection', noise_m=0.01),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=1),
]
train = dict(time_budget_min=30)
