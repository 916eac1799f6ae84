# A lever of issue #23 for video: the default NW-UCLA recipe trained on Kinect joints made to look like a
# monocular estimator's. (1) Every person centred on their own centre joint in every frame (CentreSkeleton
# per_frame=True), in training and at test: an estimator's 3D joints carry no travel through the scene
# (MediaPipe's world joints are centred on the hips in every frame), and the default model, which learnt from
# the Kinect body's travel, called a video's sit-down "stand up" and its walker "throw" or "carry". (2) The legs'
# swing damped by 0.4-1x half the time (RandomLimbDamping): MediaPipe's 3D legs swing about half as much as
# Kinect's. Measured on NW-UCLA in bench/results/accuracy.json, on GMDCSA24's real clips in docs/training.md.
_base_ = ['./pggcn_nwucla_default.py']
train_pipeline = [
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton', per_frame=True),
    dict(type='RandomLimbDamping', p=0.5, factor=(0.4, 1.0)),
    dict(type='UniformSample', clip_len=52),
    dict(type='JointNoise', std=0.015, drop_prob=0.02),
    dict(type='RandomRotate', max_deg=60, axes='xy'),
    dict(type='PoseInput', source='projection', noise_m=0.01),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=1),
]
test_pipeline = [
    dict(type='SelectSkeleton', source='kinect', test_mode=True),
    dict(type='CentreSkeleton', per_frame=True),
    dict(type='UniformSample', clip_len=52, test_mode=True),
    dict(type='PoseInput', source='projection'),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=1),
]
