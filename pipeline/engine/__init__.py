"""Training and evaluation: the training loop, weight averaging, the schedule, evaluation reports,
score fusion and the run records of work dirs.
"""
