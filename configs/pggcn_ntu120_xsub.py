# PG-GCN on NTU120 xsub: annotations from `make extract DATASET=ntu120` (Kinect joints + MediaPipe 2D pose).
_base_ = ['./_base_/ntu.py']
dataset = 'ntu120'
ann_file = 'data/ntu120/annotations.pkl'
train_split = 'xsub_train'
test_split = 'xsub_val'
model = dict(num_classes=120)
