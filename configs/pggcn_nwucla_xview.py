# PG-GCN on NW-UCLA cross-view, the accuracy benchmark's main model (make bench-accuracy).
# On a 2-core CPU the schedule runs over a 30-minute budget (cosine over wall-clock time).
_base_ = ['./_base_/nwucla.py']
train = dict(time_budget_min=30)
