# PG-GCN on NTU60 xsub: annotations from `make extract DATASET=ntu60` (Kinect joints + MediaPipe 2D pose).
_base_ = ['./_base_/ntu.py']
dataset = 'ntu60'
ann_file = 'data/ntu60/annotations.pkl'
train_split = 'xsub_train'
test_split = 'xsub_val'
model = dict(num_classes=60)
