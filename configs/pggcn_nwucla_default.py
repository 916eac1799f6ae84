# The default model of tools/infer_video.py and the main model of `make bench-accuracy`: NW-UCLA's 10
# actions, in the layout video inference fills from MediaPipe (its 3D world joints mapped to the 20 Kinect v1
# joints). Joint noise and dropout on the Kinect joints plus the per-sample min-max scaling bridge Kinect
# skeletons and estimated ones.
#
# CPU recipe: a fixed 24 epochs (about 30 minutes on an idle 2-core CPU) with the cosine ending at the last
# one, so `make train CONFIG=configs/pggcn_nwucla_default.py` gives the same model on any machine, only
# slower or faster. The weights are averaged (EMA, decay 0.999: about the last 3 epochs), and the average is
# what is validated and shipped: it steadies the last epoch's accuracy.
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
train = dict(epochs=24, ema_decay=0.999)
