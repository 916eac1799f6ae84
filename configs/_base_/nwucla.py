# NW-UCLA cross-view (train v01+v02, test v03): Kinect v1, 20 joints, 1 person, no RGB (pose stream from
# the 3D joints projected with the Kinect v1 colour intrinsics; see pipeline/nwucla.py).
dataset = 'nwucla'
ann_file = 'data/nwucla/annotations.pkl'
train_split = 'xview_train'
test_split = 'xview_val'
clip_len = 52  # CTR-GCN's NW-UCLA window

model = dict(type='PGGCN', num_classes=10, layout='kinect_v1_20', streams=('joint', 'velocity', 'bone'),
             pose_input='heatmap', fusion='pgam', branch_channels=(16, 32), main_channels=(64, 64),
             kernel_size=5, dropout=0.2)

# CTR-GCN's NW-UCLA preprocessing: centre, random rotation about x and y up to 60 degrees, per-sample
# min-max scaling to [-1, 1].
train_pipeline = [
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=clip_len),
    dict(type='RandomRotate', max_deg=60, axes='xy'),
    dict(type='MinMaxScale'),
    dict(type='PoseInput', noise_px=2.0),
    dict(type='PackInputs', num_person=1),
]
test_pipeline = [
    dict(type='SelectSkeleton', source='kinect', test_mode=True),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=clip_len, test_mode=True),
    dict(type='MinMaxScale'),
    dict(type='PoseInput'),
    dict(type='PackInputs', num_person=1),
]

# CTR-GCN's NW-UCLA recipe: batch 16, lr 0.1, nesterov, 5 warm-up epochs, training set repeated 5x.
train = dict(batch_size=16, epochs=65, warmup_epochs=5, lr=0.1, base_batch=16, weight_decay=4e-4,
             label_smoothing=0.1, repeat=5, num_workers=1, seed=0)
