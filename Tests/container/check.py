#!/usr/bin/env python3
"""HTTP checks against a running MiniVNA container, from the host (run by Tests/container/run.sh).

    check.py BASE_URL ADMIN_TOKEN READER_TOKEN FIXTURES_DIR STATE_FILE [--after-restart]

Every request carries `Authorization: Bearer ADMIN_TOKEN` (the tokens the entrypoint printed),
which the container's server requires. Checks:
  auth    a request without a token or with an unknown one is refused (401), the printed tokens
          are the ones the server uses: the reader token reads, and may not store (403)
  demo    every instance of the demo fixtures is in the archive (QIDO), and in FHIR; the
          demo-data archive (patient DEMO-004's ultrasound study) too
  stow    a CT fixture, given new UIDs (a new study: the original is already in the demo data,
          and a re-store would prove nothing), stored with STOW-RS multipart/related
  qido    QIDO finds the new study by StudyInstanceUID and by PatientID
  wado    WADO-RS returns the instance; pydicom parses it; UIDs and pixel data are the ones sent
  fhir    GET /fhir/ImagingStudy?identifier=urn:dicom:uid|urn:oid:UID returns the study
With --after-restart (same container, restarted): the study stored before is still there
(UIDs read from STATE_FILE), the demo data were not imported twice.

Prints one line per check and "N passed, N failed"; exits 1 when any check failed.
"""
import io
import json
import pathlib
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pydicom
from pydicom.uid import generate_uid

BASE, TOKEN, READER_TOKEN = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
FIXTURES, STATE = pathlib.Path(sys.argv[4]), pathlib.Path(sys.argv[5])
AFTER_RESTART = "--after-restart" in sys.argv[6:]
DEMO_FOLDERS = ["ct", "mr", "multiframe", "jpeg2000", "charsets"]   # what the entrypoint imports
DICOM_JSON = "application/dicom+json"
FHIR_JSON = "application/fhir+json"

passed, failed = 0, 0


def request(method, path, body=None, headers=None, timeout=30, token=None):
    """(status, headers, body bytes); HTTP errors are answers here, not exceptions.
    token: None sends the admin token, "" none at all."""
    token = TOKEN if token is None else token
    all_headers = {"Authorization": f"Bearer {token}"} if token else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(BASE + path, data=body, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def get_json(path, accept=DICOM_JSON):
    status, _, body = request("GET", path, headers={"Accept": accept})
    if status == 204:                      # QIDO: no match
        return []
    if status != 200:
        raise AssertionError(f"GET {path}: {status} {body[:300]!r}")
    return json.loads(body)


def value(item, tag):
    """First value of a DICOM JSON attribute, or None."""
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def check(name, function):
    global passed, failed
    try:
        detail = function()
        passed += 1
        print(f"ok    {name}: {detail}")
    except Exception as error:           # one failed check must not hide the others
        failed += 1
        print(f"FAIL  {name}: {error}")


def multipart_parts(content_type, body):
    """Bodies of a multipart/related response (boundary from the Content-Type)."""
    parameters = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = parameters.get("boundary", "").strip('"')
    if not boundary:
        raise AssertionError(f"no boundary in Content-Type {content_type!r}")
    parts = []
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):        # the closing delimiter
            break
        head, _, data = chunk.partition(b"\r\n\r\n")
        parts.append(data[:-2] if data.endswith(b"\r\n") else data)
    return parts


def demo_instances():
    """{study UID: {SOP Instance UID, ...}} of the demo fixtures, read with pydicom."""
    studies = {}
    for folder in DEMO_FOLDERS:
        for path in sorted((FIXTURES / folder).glob("*.dcm")):
            dataset = pydicom.dcmread(path, stop_before_pixels=True)
            studies.setdefault(dataset.StudyInstanceUID, set()).add(dataset.SOPInstanceUID)
    if not studies:
        raise AssertionError(f"no demo fixtures under {FIXTURES}")
    return studies


def check_demo_in_qido():
    expected = demo_instances()
    missing = []
    for study, sops in expected.items():
        found = {value(item, "00080018") for item in get_json(f"/dicom-web/studies/{study}/instances")}
        missing += sorted(sops - found)
    if missing:
        raise AssertionError(f"{len(missing)} demo instances missing, e.g. {missing[:3]}")
    return f"{sum(map(len, expected.values()))} demo instances in {len(expected)} studies"


def check_demo_in_fhir():
    study = next(iter(demo_instances()))
    bundle = get_json("/fhir/ImagingStudy?identifier=" + urllib.parse.quote(f"urn:dicom:uid|urn:oid:{study}"), FHIR_JSON)
    entries = bundle.get("entry", [])
    if len(entries) != 1:
        raise AssertionError(f"{len(entries)} ImagingStudy entries for demo study {study}")
    return f"ImagingStudy/{entries[0]['resource'].get('id')} for the demo CT study"


def check_demo_data():
    studies = get_json("/dicom-web/studies?PatientID=DEMO-004&includefield=00080061", DICOM_JSON)
    modalities = [m for s in studies for m in (s.get("00080061", {}).get("Value") or [])]
    if len(studies) != 1 or modalities != ["US"]:
        raise AssertionError(f"demo-data patient DEMO-004: {len(studies)} studies, modalities {modalities}")
    return "the demo-data archive is there (DEMO-004: one US study)"


def check_auth():
    anonymous, _, _ = request("GET", "/dicom-web/studies", headers={"Accept": DICOM_JSON}, token="")
    if anonymous != 401:
        raise AssertionError(f"GET /dicom-web/studies without a token answered {anonymous}, expected 401")
    wrong, _, _ = request("GET", "/dicom-web/studies", headers={"Accept": DICOM_JSON}, token="not-a-token-" + uuid.uuid4().hex)
    if wrong != 401:
        raise AssertionError(f"an unknown token answered {wrong}, expected 401")
    reader, _, _ = request("GET", "/dicom-web/studies", headers={"Accept": DICOM_JSON}, token=READER_TOKEN)
    if reader not in (200, 204):
        raise AssertionError(f"the printed reader token may not read: {reader}")
    data, _ = new_study()
    boundary = "minivna-" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + f"\r\n--{boundary}--\r\n".encode())
    store, _, _ = request("POST", "/dicom-web/studies", body, {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}', "Accept": DICOM_JSON},
        token=READER_TOKEN)
    if store != 403:
        raise AssertionError(f"STOW with the reader token answered {store}, expected 403")
    return "no token and an unknown token 401, reader token reads, reader STOW 403"


def new_study():
    """A CT fixture with new Study/Series/SOP UIDs and its own patient: (Part-10 bytes, dataset)."""
    dataset = pydicom.dcmread(FIXTURES / "ct" / "ct_0001.dcm")
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.PatientID = "CONTAINER-" + uuid.uuid4().hex[:8].upper()
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue(), dataset


def check_stow(state):
    data, dataset = new_study()
    boundary = "minivna-" + uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
            + f"\r\n--{boundary}--\r\n".encode())
    status, _, answer = request("POST", "/dicom-web/studies", body, {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": DICOM_JSON})
    if status != 200:
        raise AssertionError(f"STOW answered {status}: {answer[:300]!r}")
    response = json.loads(answer)
    referenced = [value(item, "00081155") for item in response.get("00081199", {}).get("Value", [])]
    if dataset.SOPInstanceUID not in referenced or response.get("00081198"):
        raise AssertionError(f"STOW response does not list the instance as stored: {json.dumps(response)[:300]}")
    state.update(study=dataset.StudyInstanceUID, series=dataset.SeriesInstanceUID, sop=dataset.SOPInstanceUID,
                 patient=dataset.PatientID, pixels=dataset.PixelData.hex())
    STATE.write_text(json.dumps(state))
    return f"stored {dataset.SOPInstanceUID} ({len(data)} bytes) in a new study"


def check_qido(state):
    by_uid = get_json(f"/dicom-web/studies?StudyInstanceUID={state['study']}")
    by_patient = get_json(f"/dicom-web/studies?PatientID={state['patient']}")
    for name, result in (("StudyInstanceUID", by_uid), ("PatientID", by_patient)):
        if [value(item, "0020000D") for item in result] != [state["study"]]:
            raise AssertionError(f"QIDO by {name} found {[value(item, '0020000D') for item in result]}")
    instances = get_json(f"/dicom-web/studies/{state['study']}/series/{state['series']}/instances")
    if state["sop"] not in {value(item, "00080018") for item in instances}:
        raise AssertionError("QIDO instances of the series do not list the stored instance")
    return "study found by StudyInstanceUID and PatientID, instance listed"


def check_wado(state):
    path = f"/dicom-web/studies/{state['study']}/series/{state['series']}/instances/{state['sop']}"
    status, headers, body = request("GET", path, headers={"Accept": 'multipart/related; type="application/dicom"'})
    if status != 200:
        raise AssertionError(f"WADO answered {status}: {body[:300]!r}")
    parts = multipart_parts(headers.get("Content-Type", ""), body)
    if len(parts) != 1:
        raise AssertionError(f"{len(parts)} parts, expected 1")
    dataset = pydicom.dcmread(io.BytesIO(parts[0]))
    if dataset.SOPInstanceUID != state["sop"] or dataset.StudyInstanceUID != state["study"]:
        raise AssertionError(f"retrieved {dataset.SOPInstanceUID}, not {state['sop']}")
    if dataset.PixelData.hex() != state["pixels"]:
        raise AssertionError("pixel data differ from those stored")
    return f"{len(parts[0])} bytes, parsed by pydicom, same UIDs and pixel data"


def check_fhir(state):
    identifier = urllib.parse.quote(f"urn:dicom:uid|urn:oid:{state['study']}")
    bundle = get_json(f"/fhir/ImagingStudy?identifier={identifier}", FHIR_JSON)
    if bundle.get("resourceType") != "Bundle":
        raise AssertionError(f"not a Bundle: {json.dumps(bundle)[:200]}")
    entries = bundle.get("entry", [])
    if len(entries) != 1:
        raise AssertionError(f"{len(entries)} entries, expected 1")
    resource = entries[0]["resource"]
    values = [item.get("value") for item in resource.get("identifier", [])]
    if resource.get("resourceType") != "ImagingStudy" or f"urn:oid:{state['study']}" not in values:
        raise AssertionError(f"unexpected resource: {json.dumps(resource)[:300]}")
    series = [item.get("uid") for item in resource.get("series", [])]
    if state["series"] not in series:
        raise AssertionError(f"the stored series is not in ImagingStudy.series: {series}")
    return f"ImagingStudy/{resource.get('id')} with the stored series"


def main():
    if AFTER_RESTART:
        state = json.loads(STATE.read_text())
        check("restart: demo data still there", check_demo_in_qido)
        check("restart: stored study still there (qido)", lambda: check_qido(state))
        check("restart: stored instance still retrievable (wado)", lambda: check_wado(state))
    else:
        state = {}
        check("auth", check_auth)
        check("demo data (qido)", check_demo_in_qido)
        check("demo data (fhir)", check_demo_in_fhir)
        check("demo-data archive", check_demo_data)
        check("stow", lambda: check_stow(state))
        if "sop" in state:                 # nothing to look for when nothing was stored
            check("qido", lambda: check_qido(state))
            check("wado", lambda: check_wado(state))
            check("fhir", lambda: check_fhir(state))
        else:
            global failed
            failed += 3
            print("FAIL  qido, wado, fhir: not run, STOW failed")
    print(f"http: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
