"""Shared helpers for the black-box suite: synthetic DICOM, multipart bodies, QIDO calls."""
import io
import itertools
import json
import pathlib
import uuid

import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Fixtures"

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"

# DICOM JSON tags used throughout.
STUDY_UID = "0020000D"
SERIES_UID = "0020000E"
SOP_UID = "00080018"
SOP_CLASS = "00080016"
PATIENT_NAME = "00100010"
PATIENT_ID = "00100020"
STUDY_DATE = "00080020"
STUDY_TIME = "00080030"
ACCESSION = "00080050"
MODALITIES_IN_STUDY = "00080061"
MODALITY = "00080060"
STUDY_DESCRIPTION = "00081030"
SERIES_DESCRIPTION = "0008103E"
SERIES_DATE = "00080021"
REFERRING_PHYSICIAN = "00080090"
PATIENT_BIRTH_DATE = "00100030"
RETRIEVE_URL = "00081190"
N_STUDY_SERIES = "00201206"
N_STUDY_INSTANCES = "00201208"
N_SERIES_INSTANCES = "00201209"
SERIES_NUMBER = "00200011"
INSTANCE_NUMBER = "00200013"
REFERENCED_SOP_SEQ = "00081199"
FAILED_SOP_SEQ = "00081198"
FAILURE_REASON = "00081197"
REFERENCED_SOP_UID = "00081155"

_counter = itertools.count(1)


def fixture_files(*globs):
    out = []
    for g in globs:
        out.extend(sorted(FIXTURES.glob(g)))
    assert out, f"no fixture files for {globs}"
    return out


def make_dataset(*, patient_name="Test^Patient", patient_id=None, study_uid=None,
                 series_uid=None, sop_uid=None, modality="CT", sop_class=None,
                 study_date="20240101", study_time="120000", accession=None,
                 study_description=None, series_description=None, series_number=1,
                 instance_number=1, referring="Ref^Doc", birth_date="19800101",
                 charset="ISO_IR 192", series_date=None, pixels=True, extra_bytes=0):
    """A small, valid Explicit VR Little Endian instance built with pydicom."""
    n = next(_counter)
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class or {"CT": CT_IMAGE, "MR": MR_IMAGE}.get(modality, SC_IMAGE)
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    if series_date:
        ds.SeriesDate = series_date
    ds.AccessionNumber = accession if accession is not None else f"ACC{n:05d}"
    ds.Modality = modality
    ds.ReferringPhysicianName = referring
    if study_description is not None:
        ds.StudyDescription = study_description
    if series_description is not None:
        ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id if patient_id is not None else f"PID{n:05d}"
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    if pixels:
        side = 4
        if extra_bytes:
            side = max(4, int((extra_bytes / 2) ** 0.5))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = side
        ds.Columns = side
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = bytes((i * 7) & 0xFF for i in range(side * side * 2))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def to_bytes(ds):
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def new_boundary():
    return "bb" + uuid.uuid4().hex


def multipart(parts, boundary=None, part_type="application/dicom", close=True):
    """Body of a multipart/related request; returns (body, boundary)."""
    boundary = boundary or new_boundary()
    out = bytearray()
    for p in parts:
        out += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode()
        out += p
        out += b"\r\n"
    if close:
        out += f"--{boundary}--\r\n".encode()
    return bytes(out), boundary


def stow_content_type(boundary, type_="application/dicom"):
    return f'multipart/related; type="{type_}"; boundary={boundary}'


def stow(base, parts, study=None, boundary=None, content_type=None, timeout=60, **kw):
    """POST parts (list of bytes) to /studies[/study]; returns the requests response."""
    body, boundary = multipart(parts, boundary=boundary)
    url = f"{base}/studies" + (f"/{study}" if study else "")
    headers = {"Content-Type": content_type or stow_content_type(boundary),
               "Accept": "application/dicom+json"}
    return requests.post(url, data=body, headers=headers, timeout=timeout, **kw)


def qido(base, path, query=None, accept=None, timeout=30):
    """GET base/path with a raw query string (sent as is) or a dict of params."""
    headers = {}
    if accept is not None:
        headers["Accept"] = accept
    url = f"{base}/{path}"
    if isinstance(query, str):
        url += "?" + query
        return requests.get(url, headers=headers, timeout=timeout)
    return requests.get(url, params=query, headers=headers, timeout=timeout)


def qido_json(base, path, query=None):
    r = qido(base, path, query)
    assert r.status_code == 200, (r.status_code, r.text, path, query)
    assert r.headers["Content-Type"].startswith("application/dicom+json"), r.headers
    return r.json()


def value(result, tag):
    """First value of tag in a DICOM JSON object, or None."""
    el = result.get(tag)
    if not el or "Value" not in el or not el["Value"]:
        return None
    return el["Value"][0]


def values(result, tag):
    el = result.get(tag)
    if not el:
        return []
    return el.get("Value", [])


def pn_alpha(result, tag=PATIENT_NAME):
    v = value(result, tag)
    return v.get("Alphabetic") if v else None


def uids(results, tag):
    return [value(r, tag) for r in results]


def uid_set(results, tag):
    return set(uids(results, tag))


def failure_reasons(body):
    return [value(item, FAILURE_REASON) for item in values(body, FAILED_SOP_SEQ)]


def referenced_uids(body):
    return [value(item, REFERENCED_SOP_UID) for item in values(body, REFERENCED_SOP_SEQ)]


def assert_json_error(resp, status, *needles):
    """An error response: the status, a Content-Type, a JSON body {"status","error"}."""
    assert resp.status_code == status, (resp.status_code, resp.text[:500])
    ctype = resp.headers.get("Content-Type")
    assert ctype, f"error {status} without Content-Type"
    assert ctype.split(";")[0].strip() == "application/json", ctype
    body = json.loads(resp.content)
    assert body.get("status") == status, body
    assert isinstance(body.get("error"), str) and body["error"], body
    for n in needles:
        assert n.lower() in body["error"].lower(), (n, body)
    return body


def parse_multipart(response, body=None):
    """Parts of a multipart/related response as (headers with lower-case names, bytes).
    Strict: the boundary from Content-Type, CRLF delimiters, a close delimiter at the end."""
    content_type = response.headers["Content-Type"]
    assert content_type.lower().startswith("multipart/related"), content_type
    params = {}
    for piece in content_type.split(";")[1:]:
        if "=" in piece:
            k, v = piece.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    boundary = params["boundary"].encode()
    data = response.content if body is None else body
    delimiter = b"--" + boundary
    assert data.startswith(delimiter), data[:100]
    close = data.rfind(b"\r\n" + delimiter + b"--")
    assert close >= 0 or data.startswith(delimiter + b"--"), "no close delimiter"
    parts = []
    if close < 0:
        return parts
    for chunk in data[len(delimiter):close].split(b"\r\n" + delimiter):
        assert chunk.startswith(b"\r\n"), chunk[:50]
        head, _, content = chunk[2:].partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, _, val = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = val.strip()
        if "content-length" in headers:
            assert int(headers["content-length"]) == len(content), (headers, len(content))
        parts.append((headers, content))
    return parts
