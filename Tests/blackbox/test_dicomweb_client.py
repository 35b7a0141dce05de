"""STOW and QIDO through the real `dicomweb-client` package; fixtures stored as received; XML."""
import email.parser
import email.policy
import json
import xml.etree.ElementTree as ET

import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient

from bbhelpers import (FIXTURES, MODALITIES_IN_STUDY, N_SERIES_INSTANCES, N_STUDY_INSTANCES,
                       N_STUDY_SERIES, RETRIEVE_URL, SERIES_UID, SOP_UID, STUDY_DESCRIPTION,
                       STUDY_UID, fixture_files, qido, qido_json, uid_set, value, values)

CT_FILES = fixture_files("ct/*.dcm")
MR_FILE = FIXTURES / "mr" / "mr_implicit.dcm"
CHARSET_FILES = fixture_files("charsets/*.dcm")
EXPECTED_CHARSETS = json.loads((FIXTURES / "charsets" / "expected.json").read_text("utf-8"))


def read(path):
    return pydicom.dcmread(str(path))


@pytest.fixture(scope="module")
def client(module_server):
    return DICOMwebClient(url=module_server.base)


@pytest.fixture(scope="module")
def stored(client):
    """Store CT series + MR + charset files with dicomweb-client; returns the datasets."""
    datasets = [read(p) for p in CT_FILES + [MR_FILE] + CHARSET_FILES]
    result = client.store_instances(datasets)
    return datasets, result


def test_store_instances_reports_every_instance(stored):
    datasets, result = stored
    refs = result.ReferencedSOPSequence
    assert {r.ReferencedSOPInstanceUID for r in refs} == {d.SOPInstanceUID for d in datasets}
    assert "FailedSOPSequence" not in result or len(result.FailedSOPSequence) == 0
    for r in refs:
        assert r.ReferencedSOPClassUID
        assert r.RetrieveURL.startswith("http://")


def test_search_for_studies_all(client, stored):
    datasets, _ = stored
    studies = client.search_for_studies()
    assert uid_set(studies, STUDY_UID) == {d.StudyInstanceUID for d in datasets}
    assert len(studies) == 14  # CT, MR, 12 charset studies
    for s in studies:
        assert value(s, RETRIEVE_URL).endswith("/studies/" + value(s, STUDY_UID))


def test_search_for_studies_filter_counts(client, stored):
    ct_study = read(CT_FILES[0]).StudyInstanceUID
    studies = client.search_for_studies(search_filters={"PatientID": "MVNA-001"})
    assert uid_set(studies, STUDY_UID) == {ct_study}
    s = studies[0]
    assert value(s, N_STUDY_SERIES) == 1
    assert value(s, N_STUDY_INSTANCES) == 5
    assert values(s, MODALITIES_IN_STUDY) == ["CT"]
    assert value(s, RETRIEVE_URL)

    mr = client.search_for_studies(search_filters={"ModalitiesInStudy": "MR"})
    assert uid_set(mr, STUDY_UID) == {read(MR_FILE).StudyInstanceUID}
    assert value(mr[0], N_STUDY_SERIES) == 1
    assert value(mr[0], N_STUDY_INSTANCES) == 1


def test_search_for_series_and_instances(client, stored):
    ct = [read(p) for p in CT_FILES]
    study, series = ct[0].StudyInstanceUID, ct[0].SeriesInstanceUID
    found = client.search_for_series(study_instance_uid=study)
    assert uid_set(found, SERIES_UID) == {series}
    assert value(found[0], N_SERIES_INSTANCES) == 5
    assert value(found[0], RETRIEVE_URL).endswith(f"/studies/{study}/series/{series}")

    by_modality = client.search_for_series(search_filters={"Modality": "MR"})
    assert uid_set(by_modality, SERIES_UID) == {read(MR_FILE).SeriesInstanceUID}

    inst = client.search_for_instances(study_instance_uid=study, series_instance_uid=series)
    assert uid_set(inst, SOP_UID) == {d.SOPInstanceUID for d in ct}
    assert len(inst) == 5
    for i in inst:
        assert value(i, RETRIEVE_URL).endswith(
            f"/studies/{study}/series/{series}/instances/{value(i, SOP_UID)}")

    one = client.search_for_instances(study_instance_uid=study,
                                      search_filters={"InstanceNumber": "3"})
    assert uid_set(one, SOP_UID) == {ct[2].SOPInstanceUID}

    all_inst = client.search_for_instances()
    assert len(all_inst) == 5 + 1 + 12


def _split_pn(s):
    groups = s.split("=")
    keys = ["Alphabetic", "Ideographic", "Phonetic"]
    return {k: g for k, g in zip(keys, groups) if g}


@pytest.mark.parametrize("name", sorted(EXPECTED_CHARSETS))
def test_charsets_decoded_in_qido(client, stored, name):
    ds = read(FIXTURES / "charsets" / name)
    expected = EXPECTED_CHARSETS[name]
    found = client.search_for_studies(search_filters={"PatientID": ds.PatientID},
                                      fields=["StudyDescription"])
    assert len(found) == 1
    pn = value(found[0], "00100010")
    got = {k: v for k, v in pn.items() if v}
    assert got == _split_pn(expected["PatientName"])
    assert value(found[0], STUDY_DESCRIPTION) == expected["StudyDescription"]


def _multipart_parts(resp):
    ctype = resp.headers["Content-Type"]
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + resp.content)
    assert msg.is_multipart(), ctype
    return [part for part in msg.iter_parts()]


NS = "{http://dicom.nema.org/PS3.19/models/NativeDICOM}"


def test_xml_qido_response_parses(module_server, stored):
    base = module_server.base
    accept = 'multipart/related; type="application/dicom+xml"'
    as_json = qido_json(base, "studies", {"PatientID": "MVNA-CS-*"})
    assert len(as_json) == 12
    r = qido(base, "studies", {"PatientID": "MVNA-CS-*"}, accept=accept)
    assert r.status_code == 200, r.text
    ctype = r.headers["Content-Type"]
    assert ctype.startswith("multipart/related"), ctype
    assert "application/dicom+xml" in ctype
    parts = _multipart_parts(r)
    assert len(parts) == 12
    seen = set()
    for part in parts:
        assert part.get_content_type() == "application/dicom+xml"
        root = ET.fromstring(part.get_payload(decode=True))
        assert root.tag.split("}")[-1] == "NativeDicomModel"
        attrs = {a.get("tag"): a for a in root.iter() if a.tag.split("}")[-1] == "DicomAttribute"}
        uid = attrs["0020000D"].find("./{*}Value")
        if uid is None:
            uid = attrs["0020000D"].find("Value")
        seen.add(uid.text)
    assert seen == uid_set(as_json, STUDY_UID)


def test_xml_person_name_utf8(module_server, stored):
    accept = 'multipart/related; type="application/dicom+xml"'
    r = qido(module_server.base, "studies", {"PatientID": "MVNA-CS-01"}, accept=accept)
    assert r.status_code == 200
    parts = _multipart_parts(r)
    assert len(parts) == 1
    root = ET.fromstring(parts[0].get_payload(decode=True))
    texts = " ".join(e.text or "" for e in root.iter())
    assert "Müller" in texts and "Jürgen" in texts
