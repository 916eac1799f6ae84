"""Class names per dataset (NTU-120's official list; NTU-60 is its first 60; NW-UCLA's 10)."""
from __future__ import annotations

from pipeline.config import RESOURCES

NWUCLA_CLASSES = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
                  "stand up", "donning", "doffing", "throw", "carry"]


def class_names(dataset: str) -> list[str]:
    if dataset in ("ntu60", "ntu120"):
        names = [n for n in (RESOURCES / "ntu120_classes.txt").read_text().splitlines() if n]
        return names[:60] if dataset == "ntu60" else names
    if dataset == "nwucla":
        return list(NWUCLA_CLASSES)
    raise ValueError(f"dataset {dataset!r} has no built-in class names: the annotation file must carry "
                     f"label_names (as `make extract DATASET=videos` writes them), or the config class_names")


MAX_CLASSES = 10_000
MAX_CLASS_NAME = 200  # characters


def check_class_names(names, where: str) -> list[str]:
    """`names` as a list of class names, checked wherever class names are read from a file (a checkpoint's or
    an ONNX file's metadata, an annotation file's label_names, a labels.csv): a non-empty list of at most
    MAX_CLASSES strings of at most MAX_CLASS_NAME characters each. Else one ValueError line starting with
    `where` (the file, and what in it). A bound, because a 5 MB class name or a million classes would make
    every table, plot and JSON of a run huge and slow, long after the file was read."""
    from extract.fileio import printable

    if not isinstance(names, (list, tuple)) or not names:
        raise ValueError(f"{where}: class names must be a non-empty list of strings, got "
                         f"{type(names).__name__ if not isinstance(names, (list, tuple)) else 'an empty list'}")
    if len(names) > MAX_CLASSES:
        raise ValueError(f"{where}: {len(names)} class names; at most {MAX_CLASSES} are accepted")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise ValueError(f"{where}: class name {i} is a {type(name).__name__}, not a string")
        if len(name) > MAX_CLASS_NAME:
            raise ValueError(f"{where}: class name {i} ({printable(name[:40])}...) has {len(name)} characters; "
                             f"at most {MAX_CLASS_NAME} are accepted")
    return list(names)
