"""Every error status of STOW-RS and QIDO-RS, the failure reasons, and duplicate handling."""
import pydicom
import pytest
import requests

from bbhelpers import (FIXTURES, PATIENT_NAME, SOP_UID, assert_json_error, failure_reasons,
                       make_dataset, multipart, new_boundary, pn_alpha, qido, qido_json,
                       referenced_uids, stow, stow_content_type, to_bytes, uids, value, values,
                       REFERENCED_SOP_SEQ, FAILED_SOP_SEQ)

UNREADABLE = 0xC000
STUDY_MISMATCH = 0xA900
DUPLICATE = 0x0111
UNKNOWN_TS = 0xC122


def post_raw(server, body, content_type, path="studies", **kw):
    return requests.post(f"{server.base}/{path}", data=body,
                         headers={"Content-Type": content_type}, timeout=60, **kw)


def assert_not_stored(server, sop_uids):
    for sop in sop_uids:
        found = qido_json(server.base, "instances", {"SOPInstanceUID": sop})
        assert found == [], f"{sop} was stored"


# --- STOW framing: 400, nothing stored ------------------------------------------------

def _framing_cases():
    a, b = make_dataset(patient_name="Frame^A"), make_dataset(patient_name="Frame^B")
    da, db = to_bytes(a), to_bytes(b)
    bnd = new_boundary()
    ctype = stow_content_type(bnd)
    good, _ = multipart([da, db], boundary=bnd)
    cases = {
        # raw DICOM bytes declared as multipart: no framing at all
        "no_framing": (da, ctype),
        # framing with another boundary: the declared one never occurs
        "boundary_never_occurs": (multipart([da], boundary="other" + bnd)[0], ctype),
        # only the close delimiter: zero parts
        "zero_parts": (f"--{bnd}--\r\n".encode(), ctype),
        # two complete parts but the close delimiter is missing
        "missing_close_delimiter": (good[: good.rindex(f"--{bnd}--".encode())], ctype),
        # the body is cut in the middle of the second part
        "truncated_mid_part": (good[: len(good) - len(db) // 2], ctype),
        # empty body
        "empty_body": (b"", ctype),
    }
    return cases, [a.SOPInstanceUID, b.SOPInstanceUID]


FRAMING_CASES, FRAMING_SOPS = _framing_cases()


@pytest.mark.parametrize("case", sorted(FRAMING_CASES))
def test_bad_framing_is_400_and_stores_nothing(module_server, case):
    body, ctype = FRAMING_CASES[case]
    r = post_raw(module_server, body, ctype)
    assert_json_error(r, 400)
    assert_not_stored(module_server, FRAMING_SOPS)
    assert qido_json(module_server.base, "studies", {"PatientName": "Frame^*"}) == []


def test_framing_control_case_stores(start_server):
    """The same body with its close delimiter is fine: the cases above fail for framing only."""
    srv = start_server()
    a = make_dataset(patient_name="Frame^Ok")
    r = stow(srv.base, [to_bytes(a)])
    assert r.status_code == 200, r.text
    assert referenced_uids(r.json()) == [a.SOPInstanceUID]


# --- QIDO 400s ------------------------------------------------------------------------

@pytest.mark.parametrize("path,query,needle", [
    ("studies", "offset=-1", "offset"),
    ("studies", "limit=abc", "limit"),
    ("studies", "limit=-5", "limit"),
    ("studies", "NoSuchKey=1", "NoSuchKey"),
    ("studies", "PatientNam=Doe", "PatientNam"),
    ("studies", "StudyDate=2024", "StudyDate"),
    ("studies", "StudyDate=20241301", "StudyDate"),
    ("studies", "StudyDate=20240101-2024", "StudyDate"),
    ("studies", "00080020=notadate", "00080020"),
    ("studies", "StudyTime=2561", "StudyTime"),
    ("studies", "StudyInstanceUID=1.2.abc", "StudyInstanceUID"),
    ("studies", "fuzzymatching=maybe", "fuzzymatching"),
    ("studies", "includefield=NoSuchField", "NoSuchField"),
    ("instances", "InstanceNumber=one", "InstanceNumber"),
    ("series", "SeriesNumber=x", "SeriesNumber"),
    ("studies", "SOPInstanceUID=1.2.3", "SOPInstanceUID"),   # instance key at study level
])
def test_qido_bad_query_is_400_naming_the_key(module_server, path, query, needle):
    r = qido(module_server.base, path, query)
    assert_json_error(r, 400, needle)


@pytest.mark.parametrize("accept", ["image/png", "application/xml", "text/html",
                                    'multipart/related; type="image/jpeg"'])
def test_qido_unacceptable_accept_is_406(module_server, accept):
    r = qido(module_server.base, "studies", None, accept=accept)
    assert_json_error(r, 406)


def test_unknown_route_has_content_type(module_server):
    r = requests.get(f"{module_server.base}/nothing-here", timeout=10)
    assert r.status_code == 404
    assert r.headers.get("Content-Type"), r.headers


# --- 415 ------------------------------------------------------------------------------

def test_stow_application_dicom_is_415(module_server):
    ds = make_dataset(patient_name="Media^Raw")
    r = post_raw(module_server, to_bytes(ds), "application/dicom")
    assert_json_error(r, 415)
    assert_not_stored(module_server, [ds.SOPInstanceUID])


def test_stow_dicom_json_type_is_415(module_server):
    ds = make_dataset(patient_name="Media^Json")
    body, bnd = multipart([b'[{"00100010":{"vr":"PN"}}]'], part_type="application/dicom+json")
    r = post_raw(module_server, body, stow_content_type(bnd, "application/dicom+json"))
    assert_json_error(r, 415)
    assert_not_stored(module_server, [ds.SOPInstanceUID])


@pytest.mark.parametrize("ctype", ["text/plain", "application/octet-stream",
                                   "multipart/form-data; boundary=x"])
def test_stow_other_content_types_are_415(module_server, ctype):
    r = post_raw(module_server, b"--x\r\n\r\nabc\r\n--x--\r\n", ctype)
    assert_json_error(r, 415)


def test_stow_without_content_type_is_error(module_server):
    r = requests.post(f"{module_server.base}/studies", data=b"abc", timeout=10,
                      headers={"Content-Type": ""})
    assert r.status_code in (400, 415)
    assert r.headers.get("Content-Type")


# --- 413 ------------------------------------------------------------------------------

def test_request_too_large_is_413(start_server):
    srv = start_server("--max-request-bytes", "20000")
    files = sorted((FIXTURES / "ct").glob("*.dcm"))
    body, bnd = multipart([p.read_bytes() for p in files])
    assert len(body) > 20000
    r = post_raw(srv, body, stow_content_type(bnd))
    assert_json_error(r, 413)
    # chunked (no Content-Length): the limit applies while streaming
    def chunks():
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]
    r = post_raw(srv, chunks(), stow_content_type(bnd))
    assert_json_error(r, 413)
    assert qido_json(srv.base, "instances") == []
    # a small request still works on this server
    small = make_dataset(patient_name="Small^One", pixels=False)
    r = stow(srv.base, [to_bytes(small)])
    assert r.status_code == 200, r.text


# --- 409 / 202 / failure reasons ------------------------------------------------------

def test_all_failed_is_409_with_reasons(module_server):
    bad = [FIXTURES / "malformed" / n for n in ("all_zeros.dcm", "missing_dicm.dcm",
                                                 "truncated_mid_element.dcm")]
    r = stow(module_server.base, [p.read_bytes() for p in bad])
    assert r.status_code == 409, r.text
    assert r.headers["Content-Type"].startswith("application/dicom+json")
    body = r.json()
    assert failure_reasons(body) == [UNREADABLE] * 3
    assert values(body, REFERENCED_SOP_SEQ) == []


@pytest.mark.parametrize("name", [
    "all_zeros.dcm", "empty.dcm", "missing_dicm.dcm", "sequence_item_length_too_long.dcm",
    "sequence_undefined_length_no_delimiter.dcm", "truncated_mid_element.dcm",
    "value_length_past_eof.dcm"])
def test_malformed_fixture_is_unreadable(module_server, name):
    r = stow(module_server.base, [(FIXTURES / "malformed" / name).read_bytes()])
    assert r.status_code == 409, r.text
    assert failure_reasons(r.json()) == [UNREADABLE]
    assert r.headers.get("Warning", "").startswith("299"), r.headers


def test_empty_part_is_unreadable(module_server):
    r = stow(module_server.base, [b""])
    assert r.status_code == 409, r.text
    assert failure_reasons(r.json()) == [UNREADABLE]


def test_partial_is_202(module_server):
    good = make_dataset(patient_name="Partial^Good")
    r = stow(module_server.base, [to_bytes(good), (FIXTURES / "malformed" / "all_zeros.dcm")
                                  .read_bytes()])
    assert r.status_code == 202, r.text
    body = r.json()
    assert referenced_uids(body) == [good.SOPInstanceUID]
    assert failure_reasons(body) == [UNREADABLE]
    found = qido_json(module_server.base, "instances", {"SOPInstanceUID": good.SOPInstanceUID})
    assert uids(found, SOP_UID) == [good.SOPInstanceUID]


def test_study_mismatch_is_a900(module_server):
    ct = (FIXTURES / "ct" / "ct_0001.dcm").read_bytes()
    ct_sop = pydicom.dcmread(str(FIXTURES / "ct" / "ct_0001.dcm")).SOPInstanceUID
    other = "1.2.3.4.5.6.7.8.9"
    r = stow(module_server.base, [ct], study=other)
    assert r.status_code == 409, r.text
    body = r.json()
    assert failure_reasons(body) == [STUDY_MISMATCH]
    assert_not_stored(module_server, [ct_sop])
    # mixed: one instance of the right study, one of another -> 202
    own = make_dataset(patient_name="Study^Own", study_uid=other)
    r = stow(module_server.base, [to_bytes(own), ct], study=other)
    assert r.status_code == 202, r.text
    assert referenced_uids(r.json()) == [own.SOPInstanceUID]
    assert failure_reasons(r.json()) == [STUDY_MISMATCH]


def test_study_in_path_matching_is_200(module_server):
    ds = make_dataset(patient_name="Study^Path")
    r = stow(module_server.base, [to_bytes(ds)], study=ds.StudyInstanceUID)
    assert r.status_code == 200, r.text
    assert referenced_uids(r.json()) == [ds.SOPInstanceUID]


def test_unknown_transfer_syntax_is_c122(module_server):
    ds = make_dataset(patient_name="Syntax^Unknown")
    raw = to_bytes(ds)
    # pydicom will not write an unknown transfer syntax: patch the meta value in place
    explicit_le = b"1.2.840.10008.1.2.1\x00"
    assert raw.count(explicit_le) == 1
    raw = raw.replace(explicit_le, b"1.2.3.4.5.6.7.8.9.1\x00")
    r = stow(module_server.base, [raw])
    assert r.status_code == 409, r.text
    assert failure_reasons(r.json()) == [UNKNOWN_TS]
    assert_not_stored(module_server, [ds.SOPInstanceUID])


# --- duplicates -----------------------------------------------------------------------

def test_identical_restore_is_200_and_idempotent(module_server):
    ds = make_dataset(patient_name="Same^Again")
    raw = to_bytes(ds)
    for _ in range(3):
        r = stow(module_server.base, [raw])
        assert r.status_code == 200, r.text
        assert referenced_uids(r.json()) == [ds.SOPInstanceUID]
        assert failure_reasons(r.json()) == []
    found = qido_json(module_server.base, "instances", {"SOPInstanceUID": ds.SOPInstanceUID})
    assert len(found) == 1
    study = qido_json(module_server.base, "studies", {"StudyInstanceUID": ds.StudyInstanceUID})
    assert value(study[0], "00201208") == 1
    # the same instance twice in one request is fine too
    r = stow(module_server.base, [raw, raw])
    assert r.status_code == 200, r.text


def _changed_copy(ds):
    changed = make_dataset(patient_name="Changed^Name", sop_uid=ds.SOPInstanceUID,
                           study_uid=ds.StudyInstanceUID, series_uid=ds.SeriesInstanceUID,
                           patient_id=ds.PatientID)
    return changed


def test_duplicate_with_different_content_is_0111(module_server):
    ds = make_dataset(patient_name="Original^Name")
    assert stow(module_server.base, [to_bytes(ds)]).status_code == 200
    r = stow(module_server.base, [to_bytes(_changed_copy(ds))])
    assert r.status_code == 409, r.text
    assert failure_reasons(r.json()) == [DUPLICATE]
    found = qido_json(module_server.base, "instances",
                      {"SOPInstanceUID": ds.SOPInstanceUID, "includefield": "PatientName"})
    assert len(found) == 1
    assert pn_alpha(found[0], PATIENT_NAME) == "Original^Name"


def test_duplicate_replace_policy(start_server):
    srv = start_server("--duplicates", "replace")
    ds = make_dataset(patient_name="Original^Name")
    assert stow(srv.base, [to_bytes(ds)]).status_code == 200
    r = stow(srv.base, [to_bytes(_changed_copy(ds))])
    assert r.status_code == 200, r.text
    assert referenced_uids(r.json()) == [ds.SOPInstanceUID]
    found = qido_json(srv.base, "instances",
                      {"SOPInstanceUID": ds.SOPInstanceUID, "includefield": "PatientName"})
    assert len(found) == 1
    assert pn_alpha(found[0], PATIENT_NAME) == "Changed^Name"
    studies = qido_json(srv.base, "studies", {"StudyInstanceUID": ds.StudyInstanceUID})
    assert pn_alpha(studies[0]) == "Changed^Name"
    assert value(studies[0], "00201208") == 1


def test_error_responses_all_have_content_type(module_server):
    base = module_server.base
    responses = [
        qido(base, "studies", "limit=abc"),
        qido(base, "studies", None, accept="image/png"),
        post_raw(module_server, b"x", "application/dicom"),
        post_raw(module_server, b"x", stow_content_type("nowhere")),
        stow(base, [b"garbage"]),
        requests.delete(f"{base}/studies", timeout=10),
        requests.put(f"{base}/studies", data=b"x", timeout=10),
    ]
    for r in responses:
        assert r.status_code >= 400, (r.request.method, r.request.url, r.status_code)
        assert r.headers.get("Content-Type"), (r.request.method, r.request.url, r.status_code)


@pytest.mark.parametrize("case", ["study_mismatch", "duplicate"])
def test_failed_item_identifies_readable_instance(module_server, case):
    ds = make_dataset(patient_name="Failed^Ident")
    if case == "study_mismatch":
        r = stow(module_server.base, [to_bytes(ds)], study="1.2.3.4.5.6.7.8.9.77")
    else:
        assert stow(module_server.base, [to_bytes(ds)]).status_code == 200
        r = stow(module_server.base, [to_bytes(_changed_copy(ds))])
    assert r.status_code == 409, r.text
    failed = values(r.json(), FAILED_SOP_SEQ)
    assert len(failed) == 1
    assert value(failed[0], "00081150") == ds.SOPClassUID
    assert value(failed[0], "00081155") == ds.SOPInstanceUID
