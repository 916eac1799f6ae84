"""Inference: predictors (torch and ONNX), video inference, windows, records, results, timelines,
live mode and the ONNX export.

Never imports pipeline.engine.
"""
