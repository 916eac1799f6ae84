# A lever of issue #23 for video: the default NW-UCLA recipe with every person centred on their own centre
# joint in every frame (CentreSkeleton per_frame=True), in training and at test. A monocular estimator's 3D
# joints carry no travel through the scene (MediaPipe's world joints are centred on the hips in every frame),
# so a model for video must not learn actions from the Kinect body's travel: the default model did, and called
# a video's steady walker "throw" and "carry". Measured on NW-UCLA in bench/results/accuracy.json, on video in
# docs/training.md.
_base_ = ['./pggcn_nwucla_default.py']
train_pipeline = [
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton', per_frame=True),
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
