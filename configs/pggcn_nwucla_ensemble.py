# The default NW-UCLA recipe as a two-stream ensemble in one model (models/ensemble.py): the default
# joint-centred PG-GCN (J + V + B streams) and a bone-centred one (B + V streams, no joint positions), trained
# side by side on the same batches, each on its own loss; one checkpoint, one ONNX graph, the log of the
# members' mean probability as output. Measured against the single model in docs/training.md (Accuracy).
_base_ = ['./pggcn_nwucla_default.py']
model = dict(type='Ensemble', members=[dict(streams=('joint', 'velocity', 'bone')),
                                       dict(streams=('bone', 'velocity'))])
