# PG-GCN on NTU60 xview: annotations from `make extract DATASET=ntu60` (Kinect joints + MediaPipe 2D pose).
_base_ = ['./_base_/ntu.py']
dataset = 'ntu60'
ann_file = 'data/ntu60/annotations.pkl'
train_split = 'xview_train'
test_split = 'xview_val'
model = dict(num_classes=60)
