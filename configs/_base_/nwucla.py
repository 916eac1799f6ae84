# NW-UCLA cross-view (train v01+v02, test v03): Kinect v1, 20 joints, 1 person, no RGB. The pose stream sees
# a camera view of the (randomly rotated) 3D joints, so it is view-augmented with the skeleton streams: a
# fixed projection into the recording camera ties it to the training views and cost 4.7 points of
# cross-view top-1 in a side-by-side run (84.7 % vs 89.4 % after 4 epochs; docs/training.md, Accuracy).
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
    dict(type='PoseInput', source='projection', noise_m=0.01),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=1),
]
test_pipeline = [
    dict(type='SelectSkeleton', source='kinect', test_mode=True),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=clip_len, test_mode=True),
    dict(type='PoseInput', source='projection'),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=1),
]

# CTR-GCN's NW-UCLA recipe: batch 16, lr 0.1, nesterov, 5 warm-up epochs, training set repeated 5x.
# No loader workers: the whole dataset sits in memory and its transforms are cheap, and on a 2-core CPU
# a worker process takes a core from the model (91 samples/s with 2 threads and no worker, 74 with one).
train = dict(batch_size=16, epochs=65, warmup_epochs=5, lr=0.1, base_batch=16, weight_decay=4e-4,
             label_smoothing=0.1, repeat=5, num_workers=0, seed=0)
