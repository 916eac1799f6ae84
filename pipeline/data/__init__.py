"""Reading data: annotation files, the sample store, datasets over them, transforms and class names.

Imports nothing of pipeline.datasets, pipeline.engine or pipeline.inference.video.
"""
