# NTU RGB+D 60/120 (Kinect v2, 25 joints, up to 2 persons) with the pose stream from the extraction stage.
# The strong baselines' recipe: 100 frames, pyskl's pre-normalisation, SGD nesterov lr 0.1 per 64 samples,
# weight decay 5e-4, 5 warm-up epochs + cosine, 65 epochs.
model = dict(type='PGGCN', layout='ntu25', streams=('joint', 'velocity', 'bone'), pose_input='heatmap',
             fusion='pgam', branch_channels=(32, 48), main_channels=(128, 128), kernel_size=5, dropout=0.25)
skeleton_source = 'kinect'  # kinect | estimated | mixed (estimated = the pose estimator's 3D joints); applied
# to every SelectSkeleton below when the config is loaded, so a child config or --cfg-options can change it
train_pipeline = [
    dict(type='SelectSkeleton'),
    dict(type='CentreSkeleton', align=True),
    dict(type='UniformSample', clip_len=100),
    dict(type='RandomRotate', max_deg=15),
    dict(type='RandomScale', scale=0.1),
    dict(type='PoseInput', fallback=('kinect_color', 'projection'), noise_px=3.0),
    dict(type='PackInputs', num_person=2),
]
test_pipeline = [
    dict(type='SelectSkeleton', test_mode=True),
    dict(type='CentreSkeleton', align=True),
    dict(type='UniformSample', clip_len=100, num_clips=1, test_mode=True),
    dict(type='PoseInput', fallback=('kinect_color', 'projection')),
    dict(type='PackInputs', num_person=2),
]
train = dict(batch_size=64, epochs=65, warmup_epochs=5, lr=0.1, base_batch=64, weight_decay=5e-4,
             num_workers=8, seed=0)
