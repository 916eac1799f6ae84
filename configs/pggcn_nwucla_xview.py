# PG-GCN on NW-UCLA cross-view with CTR-GCN's full schedule: 65 epochs of the 5x-repeated training set.
# Meant for a GPU (`make train CONFIG=configs/pggcn_nwucla_xview.py`); on a 2-core CPU it takes about an
# hour. configs/pggcn_nwucla_default.py is the 30-minute CPU recipe.
_base_ = ['./_base_/nwucla.py']
