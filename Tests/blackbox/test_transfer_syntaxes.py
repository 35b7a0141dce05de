"""Big endian, implicit, deflated, JPEG 2000 and multi-frame files are stored as received."""
import pathlib

import pydicom
import pytest

from bbhelpers import (FIXTURES, N_STUDY_INSTANCES, N_STUDY_SERIES, SERIES_UID, STUDY_UID, qido_json, referenced_uids,
                       stow, value)


def _dataset_files(root):
    return [p for p in pathlib.Path(root).rglob("*") if p.is_file() and
            not p.name.startswith("index")]


@pytest.mark.parametrize("rel", ["bigendian/ct_big_endian.dcm", "mr/mr_implicit.dcm",
                                 "deflated/deflated.dcm", "jpeg2000/j2k_lossless.dcm",
                                 "multiframe/mf_10frames.dcm"])
def test_transfer_syntaxes_stored_as_received(module_server, rel):
    raw = (FIXTURES / rel).read_bytes()
    ds = pydicom.dcmread(str(FIXTURES / rel), stop_before_pixels=True)
    r = stow(module_server.base, [raw])
    assert r.status_code == 200, r.text
    assert referenced_uids(r.json()) == [ds.SOPInstanceUID]
    found = qido_json(module_server.base, "instances", {"SOPInstanceUID": ds.SOPInstanceUID})
    assert len(found) == 1
    assert value(found[0], STUDY_UID) == ds.StudyInstanceUID
    assert value(found[0], SERIES_UID) == ds.SeriesInstanceUID
    # Stored byte for byte as received: some file in the data folder equals the upload.
    assert any(p.stat().st_size == len(raw) and p.read_bytes() == raw
               for p in _dataset_files(module_server.data_dir)), \
        f"{rel} not stored byte for byte"


def test_study_counts_include_every_syntax(module_server):
    """CT series + deflated + big endian copies share one study: 3 series, 7 instances."""
    files = [FIXTURES / "ct" / f"ct_000{i}.dcm" for i in range(1, 6)] + [
        FIXTURES / "deflated" / "deflated.dcm", FIXTURES / "bigendian" / "ct_big_endian.dcm"]
    r = stow(module_server.base, [p.read_bytes() for p in files])
    assert r.status_code == 200, r.text
    study = pydicom.dcmread(str(files[0]), stop_before_pixels=True).StudyInstanceUID
    found = qido_json(module_server.base, "studies", {"StudyInstanceUID": study})
    assert len(found) == 1
    assert value(found[0], N_STUDY_SERIES) == 3
    assert value(found[0], N_STUDY_INSTANCES) == 7
    series = qido_json(module_server.base, f"studies/{study}/series", None)
    assert len(series) == 3
