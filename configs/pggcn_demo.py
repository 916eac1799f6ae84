# A short NW-UCLA run for `make demo` and CI: about 2 minutes on a 2-core CPU.
_base_ = ['./_base_/nwucla.py']
train = dict(epochs=3, warmup_epochs=0.3, repeat=1, time_budget_min=2.0, val_interval=3)
