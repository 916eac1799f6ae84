"""NTU RGB+D 60/120: sample names and splits, the .skeleton reader, body selection, and the
runner's piece for NTU.
"""
