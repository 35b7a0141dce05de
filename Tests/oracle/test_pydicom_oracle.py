"""Oracle test: MiniVNA's DICOM JSON equals pydicom's `Dataset.to_json_dict()` for every file in
pydicom's test files, its charset files and pydicom-data (bulk data excluded the same way).

Files where the two legitimately differ, and files that are not DICOM or that pydicom rejects,
are listed below with the reason. Anything else that differs fails the test.
"""
import base64
import json
import subprocess
import warnings

import pydicom
import pytest

from compare import first_difference, normalize
from corpus import corpus_files, corpus_id, minivna_binary

# pydicom's default: bulk data when the value is longer than (1024 // 4) * 3 = 768 bytes.
PYDICOM_THRESHOLD = 1024
MINIVNA_THRESHOLD = (PYDICOM_THRESHOLD // 4) * 3

NOT_DICOM = {
    # Documentation, JSON, dumps, an ICC profile and a gzip file that live beside the test files.
    # pydicom's dcmread(force=True) returns an empty or garbage dataset; MiniVNA refuses them.
    "test_files/README.txt", "test_files/dicomdirtests/README.txt", "test_files/dicomdirtests/TINY_ALPHA/README",
    "test_files/test1.json", "test_files/test_PN.json", "test_files/rtplan.dump", "test_files/rtstruct.dump",
    "test_files/crayons.icc", "test_files/zipMR.gz", "charset_files/FileInfo.txt",
    # A dataset shifted by one stray leading byte: pydicom(force=True) reads a single garbage
    # element (0820,0500); MiniVNA finds no dataset at byte 0 and refuses the file.
    "test_files/no_meta.dcm",
}

PYDICOM_REJECTS = {
    # pydicom raises converting IS value "1A" (a file made to test bad VRs); MiniVNA reads it
    # and keeps the text, as PS3.18 allows for an invalid number.
    "test_files/badVR.dcm",
}

KNOWN_DIFFERENCES = {
    # Truncated files: pydicom returns the partial value; MiniVNA refuses a file whose last value
    # runs past its end (an archive must not acknowledge a damaged instance).
    "test_files/MR_truncated.dcm": "truncated Pixel Data",
    "test_files/rtplan_truncated.dcm": "truncated value",
    "data/emri_small_jpeg_2k_lossless_too_short.dcm": "encapsulated Pixel Data without Sequence Delimitation Item",
    # Made by deleting elements without fixing the sequence length: the items run past the
    # defined-length sequence. pydicom and dcmdump read on; MiniVNA refuses inconsistent lengths.
    "test_files/dicomdirtests/DICOMDIR-nooffset": "items longer than their sequence",
    # Private (0019,1010) in an implicit VR file: pydicom's private dictionary knows it as a
    # string; MiniVNA has no private dictionary and reports UN (InlineBinary), as PS3.18 allows.
    "charset_files/chrJapMulti.dcm": "private dictionary",
    "charset_files/chrJapMultiExplicitIR6.dcm": "private dictionary",
    "charset_files/chrKoreanMulti.dcm": "private dictionary",
}

RESULTS = {"equal": 0, "known": 0, "not_dicom": 0, "pydicom_rejects": 0}


def pydicom_json(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
        result = ds.to_json_dict(bulk_data_threshold=PYDICOM_THRESHOLD, bulk_data_element_handler=lambda e: "BULK")
        big_endian = not ds.original_encoding[1] if ds.original_encoding else False
    return json.loads(json.dumps(result)), big_endian


def minivna_json(path):
    run = subprocess.run([minivna_binary(), "dump", "--bulk-data-threshold", str(MINIVNA_THRESHOLD), str(path)],
                         capture_output=True, text=True, timeout=60)
    return run


_SWAP_UNITS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def to_little_endian(dataset):
    """pydicom keeps binary values of big endian files in file byte order; PS3.18's JSON model is
    byte-order free and MiniVNA holds them little endian. Swap pydicom's to compare."""
    for element in dataset.values():
        if element.get("vr") == "SQ":
            for item in element.get("Value", []):
                to_little_endian(item)
        unit = _SWAP_UNITS.get(element.get("vr"))
        if unit and "InlineBinary" in element:
            raw = base64.b64decode(element["InlineBinary"])
            whole = len(raw) - len(raw) % unit
            swapped = b"".join(raw[i:i + unit][::-1] for i in range(0, whole, unit)) + raw[whole:]
            element["InlineBinary"] = base64.b64encode(swapped).decode()
    return dataset


FILES = corpus_files()


@pytest.mark.parametrize("path", FILES, ids=[corpus_id(p) for p in FILES])
def test_minivna_json_equals_pydicom(path):
    name = corpus_id(path)
    run = minivna_json(path)
    if name in NOT_DICOM:
        assert run.returncode != 0, "MiniVNA accepted a file that is not DICOM"
        assert "not a DICOM file" in run.stderr
        RESULTS["not_dicom"] += 1
        return
    if name in PYDICOM_REJECTS:
        assert run.returncode == 0, run.stderr
        RESULTS["pydicom_rejects"] += 1
        return
    if name in KNOWN_DIFFERENCES:
        RESULTS["known"] += 1
        return
    assert run.returncode == 0, f"MiniVNA could not read {name}: {run.stderr.strip()}"
    theirs, big_endian = pydicom_json(path)
    if big_endian:
        theirs = to_little_endian(theirs)
    ours = json.loads(run.stdout)
    difference = first_difference(normalize(ours), normalize(theirs))
    assert difference is None, difference
    RESULTS["equal"] += 1


def test_known_difference_lists_name_real_files():
    """The exception lists must not rot: every entry names a file in the corpus."""
    names = {corpus_id(p) for p in FILES}
    for entry in NOT_DICOM | PYDICOM_REJECTS | set(KNOWN_DIFFERENCES):
        assert entry in names, f"{entry} is listed but not in the corpus"
    assert len(FILES) > 250, f"corpus unexpectedly small ({len(FILES)} files): is pydicom-data installed?"
