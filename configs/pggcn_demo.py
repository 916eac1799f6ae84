# A short NW-UCLA run for `make demo` and CI: a fixed 6 epochs (under a minute on a 2-core CPU), the
# cosine ending with the last epoch, so the result does not depend on the machine's speed.
_base_ = ['./_base_/nwucla.py']
train = dict(epochs=6, warmup_epochs=0.5, repeat=1, val_interval=6)
