"""WADO-RS retrieve, metadata, frames, bulk data and DELETE against the real server, with
`dicomweb-client`, `requests` and pydicom as the reference for every byte."""
import base64
import io
import json
import pathlib
import shutil
import subprocess
import sys
import threading
import warnings

import numpy as np

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from bbhelpers import (FIXTURES, SOP_UID, assert_json_error, make_dataset, parse_multipart, qido, qido_json,
                       stow, to_bytes, value)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "oracle"))
from compare import first_difference, normalize  # noqa: E402

EXPLICIT_LE = "1.2.840.10008.1.2.1"
UNCOMPRESSED = {"1.2.840.10008.1.2", EXPLICIT_LE, "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}

SOURCES = [
    *sorted((FIXTURES / "ct").glob("*.dcm")),
    FIXTURES / "mr" / "mr_implicit.dcm",
    FIXTURES / "multiframe" / "mf_10frames.dcm",
    FIXTURES / "jpeg2000" / "j2k_lossless.dcm",
    FIXTURES / "deflated" / "deflated.dcm",
    FIXTURES / "bigendian" / "ct_big_endian.dcm",
    FIXTURES / "charsets" / "iso2022_ir87.dcm",
    *[pathlib.Path(get_testdata_file(name)) for name in (
        "CT_small.dcm", "MR_small_bigendian.dcm", "SC_rgb_rle.dcm", "emri_small_jpeg_2k_lossless.dcm",
        "waveform_ecg.dcm", "reportsi.dcm", "SC_rgb_jpeg_dcmtk.dcm", "liver.dcm")],
]


def read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(str(path))


@pytest.fixture(scope="module")
def archive(module_server):
    """Every source file stored once (files that share a SOP Instance UID: the first only)."""
    files = {}
    for path in SOURCES:
        ds = read(path)
        files.setdefault(ds.SOPInstanceUID, (path, ds))
    stored = list(files.values())
    r = stow(module_server.base, [p.read_bytes() for p, _ in stored])
    assert r.status_code == 200, r.text
    return module_server, stored


@pytest.fixture(scope="module")
def client(archive):
    return DICOMwebClient(url=archive[0].base)


def ids(stored):
    return [p.name for p, _ in stored]


def instance_url(base, ds):
    return f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def by_name(archive, name):
    return next((p, ds) for p, ds in archive[1] if p.name == name)


@pytest.fixture(scope="module")
def undecodable(archive):
    """pydicom's 12-bit extended JPEG (1.2.840.10008.1.2.4.51: libjpeg-turbo 2 cannot decode it),
    given UIDs of its own and stored."""
    ds = read(get_testdata_file("JPEG-lossy.dcm"))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = pydicom.uid.generate_uid(), pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert stow(archive[0].base, [buffer.getvalue()]).status_code == 200
    return ds


# --- instances ---------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [
    'multipart/related; type="application/dicom"; transfer-syntax=*',
    "multipart/related; type=application/dicom; transfer-syntax=*",
    'multipart/related;type="application/dicom";transfer-syntax="*"',
])
def test_every_instance_comes_back_byte_for_byte_as_stored(archive, accept):
    server, stored = archive
    for path, ds in stored:
        r = requests.get(instance_url(server.base, ds), headers={"Accept": accept}, timeout=60)
        assert r.status_code == 200, (path.name, r.status_code, r.text[:300])
        assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        parts = parse_multipart(r)
        assert len(parts) == 1, path.name
        headers, body = parts[0]
        assert headers["content-type"].startswith("application/dicom"), headers
        assert f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in headers["content-type"], (path.name, headers)
        assert body == path.read_bytes(), f"{path.name}: retrieved bytes differ from the stored file"


def test_dicomweb_client_retrieves_study_series_and_instance(archive, client):
    _, stored = archive
    _, ct = by_name(archive, "ct_0001.dcm")
    study = [ds for _, ds in stored if ds.StudyInstanceUID == ct.StudyInstanceUID]
    got = client.retrieve_study(ct.StudyInstanceUID, media_types=(("application/dicom", "*"),))
    assert sorted(d.SOPInstanceUID for d in got) == sorted(d.SOPInstanceUID for d in study)
    series = client.retrieve_series(ct.StudyInstanceUID, ct.SeriesInstanceUID, media_types=(("application/dicom", "*"),))
    assert {d.SeriesInstanceUID for d in series} == {ct.SeriesInstanceUID}
    # Series by number, instances by number: the order viewers expect.
    numbers = [int(d.InstanceNumber) for d in series]
    assert numbers == sorted(numbers)
    one = client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert one.SOPInstanceUID == ct.SOPInstanceUID
    assert one.PixelData == ct.PixelData


@pytest.mark.parametrize("name", ["mr_implicit.dcm", "ct_big_endian.dcm", "deflated.dcm", "MR_small_bigendian.dcm"])
def test_uncompressed_non_default_syntaxes_are_served_as_explicit_little_endian(archive, name):
    """PS3.18 §8.7.3.5.2: without a transfer-syntax parameter application/dicom is Explicit VR
    Little Endian; Implicit VR, Big Endian and Deflated instances are re-encoded."""
    server, _ = archive
    path, ds = by_name(archive, name)
    r = requests.get(instance_url(server.base, ds), headers={"Accept": 'multipart/related; type="application/dicom"'},
                     timeout=60)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    assert f"transfer-syntax={EXPLICIT_LE}" in headers["content-type"]
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert not got.is_implicit_VR and got.is_little_endian
    theirs = ds.to_json_dict()
    if not ds.is_little_endian:
        for element in theirs.values():
            if "InlineBinary" in element:
                element["InlineBinary"] = base64.b64encode(
                    swap_to_little_endian(base64.b64decode(element["InlineBinary"]), element["vr"])).decode()
    ours, theirs = normalize(got.to_json_dict()), normalize(theirs)
    assert first_difference(ours, theirs) is None, first_difference(ours, theirs)
    if "PixelData" in ds:
        assert (got.pixel_array == ds.pixel_array).all()


@pytest.mark.parametrize("name", ["ct_0003.dcm", "ct_big_endian.dcm", "deflated.dcm"])
def test_implicit_vr_little_endian_on_request(archive, name):
    server, _ = archive
    _, ds = by_name(archive, name)
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2'
    r = requests.get(instance_url(server.base, ds), headers={"Accept": accept}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    assert "transfer-syntax=1.2.840.10008.1.2" in headers["content-type"]
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2" and got.is_implicit_VR
    assert got.SOPInstanceUID == ds.SOPInstanceUID and got.PatientName == ds.PatientName
    assert (got.pixel_array == ds.pixel_array).all()
    if ds.is_little_endian:   # Big Endian (retired) is served only as stored, never produced
        retired = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.2'
        assert_json_error(requests.get(instance_url(server.base, ds), headers={"Accept": retired}, timeout=60), 406)


def test_single_part_application_dicom_for_one_instance(archive):
    server, _ = archive
    path, ds = by_name(archive, "ct_0002.dcm")
    r = requests.get(instance_url(server.base, ds), headers={"Accept": "application/dicom; transfer-syntax=*"}, timeout=60)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/dicom")
    assert r.content == path.read_bytes()


def test_instance_in_a_syntax_minivna_cannot_decode_is_406_with_what_is_available(archive, undecodable):
    server, _ = archive
    ds = undecodable
    r = requests.get(instance_url(server.base, ds), headers={"Accept": 'multipart/related; type="application/dicom"'},
                     timeout=60)
    assert_json_error(r, 406, "1.2.840.10008.1.2.4.51", "transfer-syntax=*")
    r = requests.get(instance_url(server.base, ds),
                     headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'},
                     timeout=60)
    assert_json_error(r, 406)
    # q-values: the acceptable alternative wins.
    r = requests.get(instance_url(server.base, ds), headers={
        "Accept": 'multipart/related; type="application/dicom"; q=0.9, '
                  'multipart/related; type="application/dicom"; transfer-syntax=*; q=0.5'}, timeout=60)
    assert r.status_code == 200


@pytest.mark.parametrize("name, twin, tolerance", [
    ("j2k_lossless.dcm", FIXTURES / "jpeg2000" / "j2k_lossless_uncompressed.dcm", 0),
    ("SC_rgb_rle.dcm", pathlib.Path(get_testdata_file("SC_rgb.dcm")), 0),
    ("emri_small_jpeg_2k_lossless.dcm", pathlib.Path(get_testdata_file("emri_small.dcm")), 0),
    ("SC_rgb_jpeg_dcmtk.dcm", pathlib.Path(get_testdata_file("SC_rgb.dcm")), 16),
])
def test_compressed_instances_are_decoded_to_explicit_little_endian(archive, client, name, twin, tolerance):
    """JPEG 2000, RLE and JPEG baseline instances asked for in the default transfer syntax are
    decoded (dicomweb-client's default retrieve): pixels equal the uncompressed twin (lossless)
    or are within the JPEG's error; the header says what the pixels now are."""
    _, ds = by_name(archive, name)
    got = client.retrieve_instance(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                                   media_types=(("application/dicom", EXPLICIT_LE),))
    assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
    reference = read(twin)
    ours, theirs = got.pixel_array.astype("int64"), reference.pixel_array.astype("int64")
    assert ours.shape == theirs.shape
    assert abs(ours - theirs).max() <= tolerance
    if ds.SamplesPerPixel == 3:
        assert got.PhotometricInterpretation == "RGB" and got.PlanarConfiguration == 0
    assert got.SOPInstanceUID == ds.SOPInstanceUID


@pytest.mark.parametrize("name, twin", [
    ("emri_small_jpeg_2k_lossless.dcm", "emri_small.dcm"), ("SC_rgb_rle.dcm", "SC_rgb.dcm"),
])
def test_compressed_frames_are_decoded_when_uncompressed_frames_are_asked_for(archive, name, twin):
    server, _ = archive
    _, ds = by_name(archive, name)
    reference = read(get_testdata_file(twin))
    count = int(getattr(ds, "NumberOfFrames", 1))
    pixels = reference.pixel_array if count > 1 else reference.pixel_array[None, ...]
    numbers = ",".join(str(i) for i in range(1, count + 1))
    r = requests.get(frames_url(server.base, ds, numbers),
                     headers={"Accept": 'multipart/related; type="application/octet-stream"'}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    parts = parse_multipart(r)
    assert all(f"transfer-syntax={EXPLICIT_LE}" in h["content-type"] for h, _ in parts)
    assert [body for _, body in parts] == [pixels[i].tobytes() for i in range(count)]


@pytest.mark.parametrize("path, status, needle", [
    ("studies/1.2.3.999", 404, "study 1.2.3.999"),
    ("studies/{study}/series/1.2.3.999", 404, "series 1.2.3.999"),
    ("studies/{study}/series/{series}/instances/1.2.3.999", 404, "instance 1.2.3.999"),
    ("studies/not-a-uid", 400, "not a valid UID"),
])
def test_missing_or_malformed_uids(archive, path, status, needle):
    server, _ = archive
    _, ds = by_name(archive, "ct_0001.dcm")
    url = f"{server.base}/" + path.format(study=ds.StudyInstanceUID, series=ds.SeriesInstanceUID)
    assert_json_error(requests.get(url, timeout=30), status, needle)


def test_unsupported_accept_is_406(archive):
    server, _ = archive
    _, ds = by_name(archive, "ct_0001.dcm")
    r = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}", headers={"Accept": "image/png"}, timeout=30)
    assert_json_error(r, 406)


# --- metadata ----------------------------------------------------------------------------------

def pydicom_json(ds):
    data = json.loads(json.dumps(ds.to_json_dict(bulk_data_threshold=10**12)))
    return data


def swap_to_little_endian(raw, vr):
    unit = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}.get(vr)
    if not unit:
        return raw
    return b"".join(raw[i:i + unit][::-1] for i in range(0, len(raw) - len(raw) % unit, unit))


def resolve_bulk(ours, theirs, ds, big_endian, session):
    """Fetch every BulkDataURI of ours; check it holds pydicom's bytes; mark both sides BULK."""
    checked = 0
    for tag, element in ours.items():
        other = theirs.get(tag, {})
        if element.get("vr") == "SQ":
            for a, b, item in zip(element.get("Value", []), other.get("Value", []), ds[tag].value):
                checked += resolve_bulk(a, b, item, big_endian, session)
        if "BulkDataURI" not in element:
            continue
        r = session.get(element["BulkDataURI"], headers={"Accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'},
                        timeout=60)
        assert r.status_code == 200, (element["BulkDataURI"], r.status_code, r.text[:300])
        parts = [body for _, body in parse_multipart(r)]
        data_element = ds[tag]
        if tag == "7FE00010" and ds.file_meta.TransferSyntaxUID not in UNCOMPRESSED:
            expected = list(generate_frames(data_element.value, number_of_frames=int(getattr(ds, "NumberOfFrames", 1))))
            assert parts == expected, f"{tag}: frames differ"
        else:
            expected = base64.b64decode(other["InlineBinary"])   # already little endian
            assert b"".join(parts) == expected, f"{tag}: bulk data differs"
        element.pop("BulkDataURI")
        other.pop("InlineBinary", None)
        element["BULK"] = other["BULK"] = True
        checked += 1
    return checked


def test_instance_metadata_equals_pydicom_and_every_bulkdata_uri_resolves(archive, client):
    _, stored = archive
    session = requests.Session()
    resolved = 0
    for path, ds in stored:
        ours = client.retrieve_instance_metadata(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        theirs = pydicom_json(ds)
        big_endian = not ds.is_little_endian
        if big_endian:
            for element in theirs.values():
                if "InlineBinary" in element and "BulkDataURI" not in element:
                    element["InlineBinary"] = base64.b64encode(
                        swap_to_little_endian(base64.b64decode(element["InlineBinary"]), element["vr"])).decode()
        resolved += resolve_bulk(ours, theirs, ds, big_endian, session)
        diff = first_difference(normalize(ours), normalize(theirs))
        assert diff is None, f"{path.name}: {diff}"
    assert resolved >= sum(1 for _, ds in stored if "PixelData" in ds)   # at least each Pixel Data


def test_series_and_study_metadata_hold_every_instance_in_order(archive, client):
    _, stored = archive
    _, ct = by_name(archive, "ct_0001.dcm")
    expected = sorted((int(ds.InstanceNumber), ds.SOPInstanceUID) for _, ds in stored
                      if ds.SeriesInstanceUID == ct.SeriesInstanceUID)
    series = client.retrieve_series_metadata(ct.StudyInstanceUID, ct.SeriesInstanceUID)
    assert [value(m, SOP_UID) for m in series] == [uid for _, uid in expected]
    study = client.retrieve_study_metadata(ct.StudyInstanceUID)
    assert {value(m, SOP_UID) for m in study} == {ds.SOPInstanceUID for _, ds in stored
                                                   if ds.StudyInstanceUID == ct.StudyInstanceUID}


def test_metadata_etag_and_conditional_get(module_server):
    base = module_server.base
    ds = make_dataset(patient_name="Etag^Test")
    assert stow(base, [to_bytes(ds)]).status_code == 200
    url = f"{base}/studies/{ds.StudyInstanceUID}/metadata"
    first = requests.get(url, timeout=30)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag
    again = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    # A new instance changes the study's metadata and its ETag.
    more = make_dataset(patient_name="Etag^Test", study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID)
    assert stow(base, [to_bytes(more)]).status_code == 200
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and len(changed.json()) == 2 and changed.headers["ETag"] != etag


def test_metadata_as_xml_on_request(archive):
    server, _ = archive
    _, ds = by_name(archive, "ct_0001.dcm")
    r = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/metadata",
                     headers={"Accept": 'multipart/related; type="application/dicom+xml"'}, timeout=30)
    assert r.status_code == 200
    parts = parse_multipart(r)
    assert parts and all(h["content-type"] == "application/dicom+xml" for h, _ in parts)
    assert b"NativeDicomModel" in parts[0][1]


# --- frames ------------------------------------------------------------------------------------

def frames_url(base, ds, frames):
    return instance_url(base, ds) + f"/frames/{frames}"


def test_dicomweb_client_frames_equal_pydicom_decoding(archive, client):
    """Every frame of every uncompressed instance equals pydicom's pixel data for it."""
    _, stored = archive
    for path, ds in stored:
        if "PixelData" not in ds or ds.file_meta.TransferSyntaxUID not in UNCOMPRESSED:
            continue
        count = int(getattr(ds, "NumberOfFrames", 1))
        frames = client.retrieve_instance_frames(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                                                 frame_numbers=list(range(1, count + 1)))
        if ds.BitsAllocated == 1:
            # Packed bits: each frame is its slice of the value (pydicom unpacks them).
            length = ds.Rows * ds.Columns * ds.SamplesPerPixel // 8
            expected_frames = [ds.PixelData[i * length:(i + 1) * length] for i in range(count)]
        else:
            pixels = ds.pixel_array
            if count == 1:
                pixels = pixels[None, ...]
            expected_frames = [pixels[i].astype(pixels.dtype.newbyteorder("<")).tobytes() for i in range(count)]
        assert len(frames) == count
        for index, frame in enumerate(frames):
            assert frame == expected_frames[index], f"{path.name} frame {index + 1}"


@pytest.mark.parametrize("accept", [
    "multipart/related; type=application/octet-stream; transfer-syntax=*",
    'multipart/related; type="application/octet-stream"; transfer-syntax="*"',
    'multipart/related; type="application/octet-stream"',
    "*/*",
])
def test_ohif_frame_requests(archive, accept):
    server, _ = archive
    _, ds = by_name(archive, "mf_10frames.dcm")
    r = requests.get(frames_url(server.base, ds, "1,3,5"), headers={"Accept": accept}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    parts = parse_multipart(r)
    pixels = ds.pixel_array
    assert [body for _, body in parts] == [pixels[i].tobytes() for i in (0, 2, 4)]
    assert all(h["content-type"].startswith("application/octet-stream") for h, _ in parts)


def test_single_frame_as_single_part_octet_stream(archive):
    server, _ = archive
    _, ds = by_name(archive, "mf_10frames.dcm")
    r = requests.get(frames_url(server.base, ds, "2"), headers={"Accept": "application/octet-stream"}, timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/octet-stream")
    assert r.content == ds.pixel_array[1].tobytes()
    # Several frames cannot be one octet-stream body.
    r = requests.get(frames_url(server.base, ds, "1,2"), headers={"Accept": "application/octet-stream"}, timeout=30)
    assert_json_error(r, 406)


@pytest.mark.parametrize("name, media_type", [
    ("emri_small_jpeg_2k_lossless.dcm", "image/jp2"), ("SC_rgb_jpeg_dcmtk.dcm", "image/jpeg"),
    ("SC_rgb_rle.dcm", "image/dicom-rle"),
])
def test_compressed_frames_pass_through_in_their_media_type(archive, name, media_type):
    server, _ = archive
    _, ds = by_name(archive, name)
    count = int(getattr(ds, "NumberOfFrames", 1))
    expected = list(generate_frames(ds.PixelData, number_of_frames=count))
    numbers = ",".join(str(i) for i in range(1, count + 1))
    for accept in (f'multipart/related; type="{media_type}"',
                   f"multipart/related; type=application/octet-stream; transfer-syntax=*"):
        r = requests.get(frames_url(server.base, ds, numbers), headers={"Accept": accept}, timeout=30)
        assert r.status_code == 200, (accept, r.text[:300])
        parts = parse_multipart(r)
        assert [body for _, body in parts] == expected
        assert all(f"transfer-syntax={ds.file_meta.TransferSyntaxUID}" in h["content-type"] for h, _ in parts)



def test_frames_minivna_cannot_decode_are_406_naming_what_is_available(archive, undecodable):
    server, _ = archive
    r = requests.get(frames_url(server.base, undecodable, "1"),
                     headers={"Accept": 'multipart/related; type="application/octet-stream"'}, timeout=30)
    assert_json_error(r, 406, "image/jpeg", "not supported")


@pytest.mark.parametrize("frames, status, needle", [
    ("11", 404, "has 10 frames"), ("1,99", 404, "frame 99"), ("0", 400, "frame numbers"), ("1,a", 400, "frame numbers"),
    ("1,,2", 400, "frame numbers"),
])
def test_frame_list_errors(archive, frames, status, needle):
    server, _ = archive
    _, ds = by_name(archive, "mf_10frames.dcm")
    assert_json_error(requests.get(frames_url(server.base, ds, frames), timeout=30), status, needle)


def test_frames_of_an_instance_without_pixel_data_is_400(archive):
    server, _ = archive
    _, ds = by_name(archive, "reportsi.dcm")
    assert_json_error(requests.get(frames_url(server.base, ds, "1"), timeout=30), 400, "Pixel Data")


# --- bulk data ---------------------------------------------------------------------------------

def test_bulkdata_with_dicomweb_client_and_ranges(archive, client):
    server, _ = archive
    _, ds = by_name(archive, "ct_0001.dcm")
    uri = instance_url(server.base, ds) + "/bulkdata/7FE00010"
    whole = client.retrieve_bulkdata(uri)
    assert whole == [ds.PixelData]
    r = requests.get(uri, headers={"Accept": "application/octet-stream", "Range": "bytes=10-19"}, timeout=30)
    assert r.status_code == 206
    assert r.content == ds.PixelData[10:20]
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(ds.PixelData)}"
    r = requests.get(uri, headers={"Accept": "application/octet-stream", "Range": "bytes=-4"}, timeout=30)
    assert r.status_code == 206 and r.content == ds.PixelData[-4:]
    r = requests.get(uri, headers={"Accept": "application/octet-stream", "Range": f"bytes={len(ds.PixelData)}-"}, timeout=30)
    assert_json_error(r, 416)
    assert r.headers["Content-Range"] == f"bytes */{len(ds.PixelData)}"
    parts = client.retrieve_bulkdata(uri, byte_range=(0, 99))
    assert parts == [ds.PixelData[:100]]


def test_bulkdata_errors(archive):
    server, _ = archive
    _, ds = by_name(archive, "ct_0001.dcm")
    base = instance_url(server.base, ds) + "/bulkdata/"
    assert_json_error(requests.get(base + "7FE0001", timeout=30), 400, "bulk data path")
    assert_json_error(requests.get(base + "00091001", timeout=30), 404, "no element")


# --- delete ------------------------------------------------------------------------------------

def test_delete_instance_series_and_study(start_server, minivna_bin):
    import subprocess
    server = start_server()
    base = server.base
    study = make_dataset(patient_name="Delete^Me")
    s1 = [make_dataset(study_uid=study.StudyInstanceUID, series_uid=study.SeriesInstanceUID, patient_name="Delete^Me")
          for _ in range(3)]
    mr_series = pydicom.uid.generate_uid()
    s2 = [make_dataset(study_uid=study.StudyInstanceUID, series_uid=mr_series, patient_name="Delete^Me", modality="MR")
          for _ in range(2)]
    assert stow(base, [to_bytes(d) for d in s1 + s2]).status_code == 200
    victim = s1[0]
    r = requests.delete(instance_url(base, victim), timeout=30)
    assert r.status_code == 204
    assert requests.get(instance_url(base, victim), timeout=30).status_code == 404
    st = qido_json(base, "studies", {"StudyInstanceUID": study.StudyInstanceUID})
    assert value(st[0], "00201208") == 4
    r = requests.delete(f"{base}/studies/{study.StudyInstanceUID}/series/{s2[0].SeriesInstanceUID}", timeout=30)
    assert r.status_code == 204
    st = qido_json(base, "studies", {"StudyInstanceUID": study.StudyInstanceUID})
    assert value(st[0], "00201206") == 1 and value(st[0], "00201208") == 2
    assert "MR" not in st[0]["00080061"]["Value"]
    assert len(requests.get(f"{base}/studies/{study.StudyInstanceUID}/metadata", timeout=30).json()) == 2
    assert requests.delete(f"{base}/studies/{study.StudyInstanceUID}", timeout=30).status_code == 204
    assert qido(base, "studies", {"StudyInstanceUID": study.StudyInstanceUID}).json() == []
    assert_json_error(requests.delete(f"{base}/studies/{study.StudyInstanceUID}", timeout=30), 404, "study")
    server.stop()
    out = subprocess.run([str(minivna_bin), "verify", "--data", server.data_dir], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("clean"), out.stdout
    assert not list(pathlib.Path(server.data_dir, "files").rglob("*.dcm"))


def test_delete_during_a_retrieve_lets_the_retrieve_finish(start_server):
    """A retrieve that started before a DELETE gets every instance; one after gets 404."""
    server = start_server()
    base = server.base
    study = make_dataset(patient_name="Concurrent^Delete", extra_bytes=131072)
    others = [make_dataset(study_uid=study.StudyInstanceUID, series_uid=study.SeriesInstanceUID,
                           patient_name="Concurrent^Delete", extra_bytes=131072) for _ in range(7)]
    stored = [study] + others
    assert stow(base, [to_bytes(d) for d in stored]).status_code == 200
    r = requests.get(f"{base}/studies/{study.StudyInstanceUID}",
                     headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
                     stream=True, timeout=60)
    assert r.status_code == 200
    first = r.raw.read(1000)   # the stream has begun
    deleted = threading.Event()

    def delete():
        assert requests.delete(f"{base}/studies/{study.StudyInstanceUID}", timeout=60).status_code == 204
        deleted.set()

    worker = threading.Thread(target=delete)
    worker.start()
    assert deleted.wait(30)
    rest = r.raw.read()
    body = first + rest
    parts = parse_multipart(r, body=body)
    assert sorted(pydicom.dcmread(io.BytesIO(b)).SOPInstanceUID for _, b in parts) == sorted(d.SOPInstanceUID for d in stored)
    worker.join()
    assert requests.get(f"{base}/studies/{study.StudyInstanceUID}", timeout=30).status_code == 404


def test_delete_with_a_malformed_uid_is_400(archive):
    server, _ = archive
    assert_json_error(requests.delete(f"{server.base}/studies/x.y", timeout=30), 400)


@pytest.mark.parametrize("name", ["ct_0002.dcm", "SC_rgb_rle.dcm", "emri_small_jpeg_2k_lossless.dcm", "mf_10frames.dcm"])
def test_rle_lossless_on_request_decodes_to_the_same_pixels_in_pydicom(archive, name):
    server, _ = archive
    _, ds = by_name(archive, name)
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5'
    r = requests.get(instance_url(server.base, ds), headers={"Accept": accept}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
    reference = ds if ds.file_meta.TransferSyntaxUID in UNCOMPRESSED else read(
        get_testdata_file({"SC_rgb_rle.dcm": "SC_rgb.dcm", "emri_small_jpeg_2k_lossless.dcm": "emri_small.dcm"}[name]))
    assert np.array_equal(got.pixel_array, reference.pixel_array)


def test_jpeg2000_lossless_on_request_decodes_with_opj_decompress(archive, tmp_path):
    """The codestream MiniVNA writes is decoded by OpenJPEG's own command-line tool to the
    original samples (an independent decoder, not MiniVNA's)."""
    opj = shutil.which("opj_decompress")
    if opj is None:
        pytest.fail("opj_decompress is missing (apt-get install libopenjp2-tools; scripts/install-deps.sh does)")
    server, _ = archive
    _, ds = by_name(archive, "SC_rgb_rle.dcm")   # 8-bit RGB: the reversible colour transform too
    accept = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90'
    r = requests.get(instance_url(server.base, ds), headers={"Accept": accept}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90" and got.PhotometricInterpretation == "YBR_RCT"
    frame = next(generate_frames(got.PixelData, number_of_frames=1))
    (tmp_path / "f.j2k").write_bytes(frame)
    out = subprocess.run([opj, "-i", str(tmp_path / "f.j2k"), "-o", str(tmp_path / "f.ppm")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = (tmp_path / "f.ppm").read_bytes()
    pixels = np.frombuffer(data[-ds.Rows * ds.Columns * 3:], dtype=np.uint8).reshape(ds.Rows, ds.Columns, 3)
    original = read(get_testdata_file("SC_rgb.dcm")).pixel_array
    assert np.array_equal(pixels, original)


def test_crafted_frame_counts_and_sizes_are_refused_not_crashes(start_server):
    """Header values from the file are bounded before any arithmetic or allocation."""
    server = start_server()
    bad = []
    warnings.simplefilter("ignore")   # pydicom warns about the out-of-range IS value on purpose
    for frames, rows in (("9999999999999999", 4), ("1", 65535)):
        ds = make_dataset(patient_name="Crafted^Frames")
        ds.NumberOfFrames = frames
        ds.Rows = rows
        bad.append(ds)
    assert stow(server.base, [to_bytes(d) for d in bad]).status_code == 200
    for ds in bad:
        for suffix in ("/frames/1", "/rendered"):
            r = requests.get(instance_url(server.base, ds) + suffix, timeout=30)
            assert r.status_code in (400, 404, 406), (suffix, r.status_code, r.text[:200])
        # The value itself is still served as bulk data (it is just bytes).
        assert requests.get(instance_url(server.base, ds) + "/bulkdata/7FE00010", timeout=30).status_code == 200
        r = requests.get(instance_url(server.base, ds),
                         headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5'},
                         timeout=30)
        assert r.status_code in (200, 406), r.status_code
    assert qido(server.base, "studies").status_code == 200   # the server is still up
