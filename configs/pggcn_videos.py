# PG-GCN on your own labelled clips: `make extract DATASET=videos DATA_ROOT=<dir> OUT=data/videos`, then
# `make train CONFIG=configs/pggcn_videos.py ANN_FILE=data/videos/annotations.pkl [LOAD_FROM=<checkpoint>]`.
# The number of classes and their names come from the annotation file (label_names). Time is measured in
# seconds: every clip is resampled to 15 fps first, so 15 and 30 fps clips give the model the same sampling
# (and video inference cuts windows of the same duration). Records are MediaPipe's 3D joints in NTU-25 with
# the 2D keypoints it saw for the pose stream; LOAD_FROM=checkpoints/pggcn_nwucla_default.pth fine-tunes the
# default model (Kinect-v1-20: the clips are mapped into its layout).
dataset = 'videos'
ann_file = 'data/videos/annotations.pkl'
train_split = 'train'
test_split = 'val'
clip_len = 48  # 3.2 s at 15 fps

model = dict(type='PGGCN', num_classes=2, layout='ntu25', streams=('joint', 'velocity', 'bone'),
             pose_input='heatmap', fusion='pgam', branch_channels=(16, 32), main_channels=(64, 64),
             kernel_size=5, dropout=0.2)
train_pipeline = [
    dict(type='ResampleFps', fps=15),
    dict(type='SelectSkeleton', source='kinect'),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=clip_len),
    dict(type='JointNoise', std=0.01, drop_prob=0.02),
    dict(type='RandomRotate', max_deg=30, axes='xy'),
    dict(type='PoseInput', fallback='projection', noise_px=2.0),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=2),
]
test_pipeline = [
    dict(type='ResampleFps', fps=15),
    dict(type='SelectSkeleton', source='kinect', test_mode=True),
    dict(type='CentreSkeleton'),
    dict(type='UniformSample', clip_len=clip_len, test_mode=True),
    dict(type='PoseInput', fallback='projection'),
    dict(type='MinMaxScale'),
    dict(type='PackInputs', num_person=2),
]
# Small sets: each clip seen 10 times per epoch with fresh augmentation; no loader workers on a small CPU.
train = dict(batch_size=8, epochs=20, warmup_epochs=2, lr=0.05, base_batch=8, weight_decay=4e-4,
             label_smoothing=0.1, repeat=10, num_workers=0, seed=0, test_batch_size=16)
