# PG-GCN on 2D files in the pyskl / mmaction2 format (e.g. ntu60_hrnet.pkl: `keypoint` (M, T, 17, 2) COCO-17
# pixels + `keypoint_score`): the skeleton streams take (x, y, score) per joint, scaled by the image size, and
# the pose stream the same keypoints as heatmaps. `make train CONFIG=configs/pggcn_ntu60_xsub_2d.py
# ANN_FILE=/path/to/ntu60_hrnet.pkl`.
_base_ = ['./_base_/ntu.py']
dataset = 'ntu60'
ann_file = 'data/ntu60_2d/ntu60_hrnet.pkl'
train_split = 'xsub_train'
test_split = 'xsub_val'
model = dict(num_classes=60, layout='coco17')
train_pipeline = [
    dict(type='From2DKeypoints'),
    dict(type='UniformSample', clip_len=100),
    dict(type='PoseInput', fallback=None, noise_px=3.0),
    dict(type='PackInputs', num_person=2),
]
test_pipeline = [
    dict(type='From2DKeypoints'),
    dict(type='UniformSample', clip_len=100, num_clips=1, test_mode=True),
    dict(type='PoseInput', fallback=None),
    dict(type='PackInputs', num_person=2),
]
