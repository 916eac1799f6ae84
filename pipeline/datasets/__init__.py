"""Building datasets: the one extraction runner and the datasets that plug into it (NTU, your own
videos), the NW-UCLA import and the mmaction2 2D export.

Imports neither pipeline.engine nor pipeline.inference.video.
"""
