"""NW-UCLA plugs into the one extraction runner: the shipped archive -> annotations.pkl + store + manifest, and a
second import changes nothing."""
import json

from pipeline.data.annotations import load_annotations
from pipeline.data.store import open_store
from pipeline.datasets.nwucla import import_nwucla


def test_the_archive_goes_through_the_runner_and_a_second_import_changes_nothing(tmp_path):
    out = tmp_path / "nw" / "ucla.pkl"
    assert import_nwucla(out=out) == out
    data = load_annotations(out)
    names = [r["frame_dir"] for r in data["annotations"]]
    assert len(names) == 1484 and names == sorted(names)
    assert sorted(data["split"]["xview_val"]) == sorted(n for n in names if n.endswith("_v03"))
    assert len(data["split"]["xview_train"]) + len(data["split"]["xview_val"]) == 1484
    manifest = json.loads((tmp_path / "nw" / "ucla.json").read_text())
    assert manifest["dataset"] == "nwucla" and manifest["samples"] == 1484
    assert not (tmp_path / "nw" / "parts").exists()
    store = open_store(out, build=False)
    assert store is not None and len(store) == 1484
    before = (out.stat().st_mtime_ns, out.read_bytes())
    assert import_nwucla(out=out) == out
    assert (out.stat().st_mtime_ns, out.read_bytes()) == before
