"""FHIR R4 at /fhir against the real server: every resource and Bundle validated with the
`fhir.resources` R4B models, counts checked against QIDO, Observations through their whole life,
errors as OperationOutcome, and the `fhirclient` library as a real client."""
import json

import pytest
import requests
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from fhirclient import client as fhir_client
from fhirclient.models.imagingstudy import ImagingStudy as ClientImagingStudy
from fhirclient.models.observation import Observation as ClientObservation

from bbhelpers import (N_STUDY_INSTANCES, N_STUDY_SERIES, SERIES_UID, SOP_UID, fixture_files, make_dataset, qido_json,
                       stow, to_bytes, value)

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def server(module_server):
    files = fixture_files("ct/*.dcm", "mr/*.dcm", "multiframe/*.dcm")
    assert stow(module_server.base, [p.read_bytes() for p in files]).status_code == 200
    return module_server


def fhir(server):
    return server.origin + "/fhir"


def get(server, path, **kw):
    return requests.get(fhir(server) + path, timeout=30, **kw)


def outcome(r, status, *needles):
    assert r.status_code == status, (r.status_code, r.text[:400])
    assert r.headers["Content-Type"].startswith(FHIR_JSON)
    oo = OperationOutcome.model_validate(r.json())
    text = " ".join(issue.diagnostics or "" for issue in oo.issue).lower()
    for needle in needles:
        assert needle.lower() in text, (needle, text)
    return oo


def observation(patient_ref, study_uid=None, status="final", extra=None):
    body = {
        "resourceType": "Observation", "status": status,
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "imaging"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "59776-5", "display": "Procedure Findings"}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": "2024-01-15T10:00:00Z",
        "valueQuantity": {"value": 12.5, "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"},
        "device": {"reference": "Device/nodule-detector-2"},
    }
    if study_uid:
        body["derivedFrom"] = [{"reference": f"ImagingStudy/{study_uid}"}]
    body.update(extra or {})
    return body


def post(server, body, content_type=FHIR_JSON):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(fhir(server) + "/Observation", data=data, headers={"Content-Type": content_type}, timeout=30)


def test_capability_statement_lists_what_is_implemented(server):
    r = get(server, "/metadata")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(FHIR_JSON)
    cs = CapabilityStatement.model_validate(r.json())
    assert cs.fhirVersion == "4.0.1"
    types = {res.type: res for res in cs.rest[0].resource}
    assert set(types) == {"ImagingStudy", "Patient", "Endpoint", "Observation", "DiagnosticReport", "Device", "AuditEvent"}
    assert {i.code for i in types["DiagnosticReport"].interaction} == {"read", "search-type"}
    assert {p.name for p in types["DiagnosticReport"].searchParam} >= {"subject", "study", "imaging-study", "code", "status", "device"}
    assert {i.code for i in types["Observation"].interaction} == {"create", "read", "update", "delete", "search-type"}
    assert {p.name for p in types["ImagingStudy"].searchParam} >= {"identifier", "patient", "started", "modality", "_lastUpdated"}


def test_every_imaging_study_matches_qido(server):
    studies = qido_json(server.base, "studies")
    assert studies
    for st in studies:
        uid = value(st, "0020000D")
        r = get(server, f"/ImagingStudy/{uid}")
        assert r.status_code == 200, r.text
        study = ImagingStudy.model_validate(r.json())
        assert study.id == uid and study.status == "available"
        assert any(i.system == "urn:dicom:uid" and i.value == f"urn:oid:{uid}" for i in study.identifier)
        assert study.numberOfSeries == value(st, N_STUDY_SERIES)
        assert study.numberOfInstances == value(st, N_STUDY_INSTANCES)
        series = qido_json(server.base, f"studies/{uid}/series")
        assert {s.uid for s in study.series} == {value(s, SERIES_UID) for s in series}
        instances = qido_json(server.base, f"studies/{uid}/instances", {"limit": "1000"})
        assert {i.uid for s in study.series for i in s.instance} == {value(i, SOP_UID) for i in instances}
        assert study.endpoint[0].reference == "Endpoint/dicomweb"
        patient = get(server, "/" + study.subject.reference)
        assert patient.status_code == 200
        Patient.model_validate(patient.json())


def test_endpoint_points_at_dicomweb(server):
    endpoint = Endpoint.model_validate(get(server, "/Endpoint/dicomweb").json())
    assert endpoint.address == server.base and endpoint.connectionType.code == "dicom-wado-rs"
    outcome(get(server, "/Endpoint/other"), 404)


def test_search_paging_include_and_summary(server):
    total = Bundle.model_validate(get(server, "/ImagingStudy?_summary=count").json()).total
    assert total == len(qido_json(server.base, "studies"))
    seen = []
    url = fhir(server) + "/ImagingStudy?_count=1&_include=ImagingStudy:patient"
    while url:
        bundle = Bundle.model_validate(requests.get(url, timeout=30).json())
        assert bundle.type == "searchset" and bundle.total == total
        matches = [e for e in bundle.entry if e.search.mode == "match"]
        includes = [e for e in bundle.entry if e.search.mode == "include"]
        assert len(matches) == 1 and len(includes) == 1
        assert includes[0].resource.__resource_type__ == "Patient"
        seen.append(matches[0].resource.id)
        url = next((link.url for link in bundle.link if link.relation == "next"), None)
    assert len(seen) == total == len(set(seen))


def test_imaging_study_search_parameters(server):
    st = qido_json(server.base, "studies", {"ModalitiesInStudy": "CT"})[0]
    uid, accession, date = value(st, "0020000D"), value(st, "00080050"), value(st, "00080020")
    day = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    patient = get(server, f"/ImagingStudy/{uid}").json()["subject"]["reference"]

    def ids(query):
        r = get(server, "/ImagingStudy?" + query)
        assert r.status_code == 200, r.text
        return {e.resource.id for e in (Bundle.model_validate(r.json()).entry or [])}

    assert uid in ids(f"identifier=urn:dicom:uid|urn:oid:{uid}")
    assert ids(f"_id={uid}") == {uid}
    assert uid in ids(f"accession={accession}")
    assert uid in ids(f"patient={patient}")
    assert uid in ids(f"subject={patient}")
    assert uid in ids("modality=http://dicom.nema.org/resources/ontology/DCM|CT")
    assert uid not in ids("modality=XA")
    assert uid in ids(f"started={day}") and uid in ids(f"started=ge{day}") and uid in ids(f"started=le{day}")
    assert uid not in ids(f"started=gt{day}") and uid not in ids(f"started=lt{day}")
    assert uid in ids("status=available")
    assert uid in ids("_lastUpdated=gt2000-01-01")
    assert ids("_lastUpdated=lt2000-01-01") == set()


def test_unknown_parameters_lenient_by_default_strict_on_request(server):
    assert get(server, "/ImagingStudy?color=blue").status_code == 200
    outcome(get(server, "/ImagingStudy?color=blue", headers={"Prefer": "handling=strict"}), 400, "color")
    outcome(get(server, "/ImagingStudy?started=sometime"), 400, "started")
    outcome(get(server, "/ImagingStudy?_count=-1"), 400, "_count")


def test_json_only(server):
    outcome(get(server, "/metadata?_format=xml"), 406)
    outcome(get(server, "/metadata", headers={"Accept": "application/fhir+xml"}), 406)
    assert get(server, "/metadata?_format=json").status_code == 200
    assert get(server, "/metadata", headers={"Accept": "application/json"}).status_code == 200


def test_counts_follow_stow_and_delete_in_the_same_request_cycle(server):
    base = server.base
    ds = make_dataset(patient_name="Fhir^Consistency")
    assert stow(base, [to_bytes(ds)]).status_code == 200
    uid = ds.StudyInstanceUID
    assert get(server, f"/ImagingStudy/{uid}").json()["numberOfInstances"] == 1
    more = [make_dataset(patient_name="Fhir^Consistency", study_uid=uid) for _ in range(2)]
    assert stow(base, [to_bytes(d) for d in more]).status_code == 200
    study = get(server, f"/ImagingStudy/{uid}").json()
    assert study["numberOfInstances"] == 3 and study["numberOfSeries"] == 3
    assert requests.delete(f"{base}/studies/{uid}/series/{more[0].SeriesInstanceUID}", timeout=30).status_code == 204
    study = get(server, f"/ImagingStudy/{uid}").json()
    assert study["numberOfInstances"] == 2 and study["numberOfSeries"] == 2
    assert requests.delete(f"{base}/studies/{uid}", timeout=30).status_code == 204
    outcome(get(server, f"/ImagingStudy/{uid}"), 404)


def test_observation_create_read_search_update_delete(server):
    uid = value(qido_json(server.base, "studies")[0], "0020000D")
    patient = get(server, f"/ImagingStudy/{uid}").json()["subject"]["reference"]
    r = post(server, observation(patient, uid))
    assert r.status_code == 201, r.text
    created = Observation.model_validate(r.json())
    assert created.meta.versionId == "1" and r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"].endswith(f"/Observation/{created.id}/_history/1")
    read = Observation.model_validate(get(server, f"/Observation/{created.id}").json())
    assert read.valueQuantity.value == 12.5 and read.derivedFrom[0].reference == f"ImagingStudy/{uid}"
    for query in (f"derived-from=ImagingStudy/{uid}", f"subject={patient}", "code=http://loinc.org|59776-5",
                  "category=imaging", "status=final", "date=2024-01-15", "date=ge2024-01-01", "device=Device/nodule-detector-2",
                  f"patient={patient}", f"_id={created.id}"):
        bundle = Bundle.model_validate(get(server, "/Observation?" + query).json())
        assert created.id in {e.resource.id for e in bundle.entry or []}, query
    for query in ("code=other", "date=lt2024-01-15", "device=Device/other", "status=preliminary"):
        assert created.id not in {e.resource.id for e in Bundle.model_validate(
            get(server, "/Observation?" + query).json()).entry or []}, query

    body = r.json()
    body["status"] = "amended"
    r = requests.put(f"{fhir(server)}/Observation/{created.id}", data=json.dumps(body),
                     headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}, timeout=30)
    assert r.status_code == 200, r.text
    assert Observation.model_validate(r.json()).meta.versionId == "2"
    stale = requests.put(f"{fhir(server)}/Observation/{created.id}", data=json.dumps(body),
                         headers={"Content-Type": FHIR_JSON, "If-Match": 'W/"1"'}, timeout=30)
    outcome(stale, 412, "version 2")
    assert requests.delete(f"{fhir(server)}/Observation/{created.id}", timeout=30).status_code == 204
    outcome(get(server, f"/Observation/{created.id}"), 410)
    assert created.id not in {e.resource.id for e in Bundle.model_validate(
        get(server, f"/Observation?derived-from=ImagingStudy/{uid}").json()).entry or []}


def test_observation_derived_from_an_instance_identifier(server):
    inst = qido_json(server.base, "instances", {"limit": "1"})[0]
    study_uid, sop = value(inst, "0020000D"), value(inst, SOP_UID)
    patient = get(server, f"/ImagingStudy/{study_uid}").json()["subject"]["reference"]
    body = observation(patient, extra={"derivedFrom": [{"identifier": {"system": "urn:dicom:uid", "value": f"urn:oid:{sop}"}}]})
    r = post(server, body)
    assert r.status_code == 201, r.text
    bundle = Bundle.model_validate(get(server, f"/Observation?derived-from=ImagingStudy/{study_uid}").json())
    assert r.json()["id"] in {e.resource.id for e in bundle.entry}


@pytest.mark.parametrize("body, status, needle", [
    ("{not json", 400, "json"),
    ({"resourceType": "Patient"}, 400, "resourceType"),
    ({"resourceType": "Observation", "code": {"text": "x"}, "subject": {"reference": "Patient/x"}}, 422, "status"),
    ({"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/x"}}, 422, "code"),
    ({"resourceType": "Observation", "status": "done", "code": {"text": "x"}, "subject": {"reference": "Patient/x"}}, 422,
     "status"),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}, 422, "subject"),
])
def test_bad_observations_are_operation_outcomes(server, body, status, needle):
    outcome(post(server, body), status, needle)


def test_dangling_references_are_422(server):
    outcome(post(server, observation("Patient/pdoesnotexist")), 422, "not in this archive")
    uid = value(qido_json(server.base, "studies")[0], "0020000D")
    patient = get(server, f"/ImagingStudy/{uid}").json()["subject"]["reference"]
    outcome(post(server, observation(patient, "1.2.3.4.5.6")), 422, "ImagingStudy/1.2.3.4.5.6")


def test_other_write_errors(server):
    outcome(post(server, observation("Patient/x"), content_type="text/plain"), 415)
    outcome(requests.post(fhir(server) + "/ImagingStudy", data="{}", headers={"Content-Type": FHIR_JSON}, timeout=30), 400,
            "read-only")
    outcome(get(server, "/Observation/doesnotexist"), 404)
    outcome(get(server, "/Medication?x=1"), 404)
    outcome(requests.post(fhir(server) + "/DiagnosticReport", data="{}", headers={"Content-Type": FHIR_JSON}, timeout=30), 400,
            "read-only")
    outcome(get(server, "/DiagnosticReport/doesnotexist"), 404)


def test_fhirclient_reads_imaging_study_and_searches_observations(server):
    uid = value(qido_json(server.base, "studies")[0], "0020000D")
    smart = fhir_client.FHIRClient(settings={"app_id": "minivna-tests", "api_base": fhir(server)})
    study = ClientImagingStudy.read(uid, smart.server)
    assert study.id == uid and study.numberOfInstances >= 1
    patient = study.subject.reference
    r = post(server, observation(patient, uid))
    assert r.status_code == 201
    found = list(ClientObservation.where(struct={"derived-from": f"ImagingStudy/{uid}"}).perform_resources_iter(smart.server))
    assert r.json()["id"] in {o.id for o in found}


@pytest.mark.parametrize("query, status", [
    ("/ImagingStudy?_lastUpdated=%F0%9D%9F%90%F0%9D%9F%8E%F0%9D%9F%90%F0%9D%9F%92", 400),   # non-ASCII digits
    ("/ImagingStudy?started=ge2024-01-01T10:00:00%2B01:00", 200),
    ("/Observation?code=", 200), ("/Observation?category=", 200), ("/Observation?_id=", 200),
    ("/Observation?subject:Patient=p1", 400), ("/ImagingStudy?modality:not=CT", 400),
])
def test_search_edge_cases_never_crash(server, query, status):
    r = get(server, query)
    assert r.status_code == status, (query, r.status_code, r.text[:300])
    if status == 200:
        Bundle.model_validate(r.json())
    else:
        OperationOutcome.model_validate(r.json())
    assert get(server, "/metadata").status_code == 200   # still serving


def test_count_zero_has_no_next_link_and_last_modified_is_an_http_date(server):
    bundle = Bundle.model_validate(get(server, "/ImagingStudy?_count=0").json())
    assert bundle.total >= 1 and not bundle.entry
    assert all(link.relation != "next" for link in bundle.link)
    uid = value(qido_json(server.base, "studies")[0], "0020000D")
    patient = get(server, f"/ImagingStudy/{uid}").json()["subject"]["reference"]
    r = post(server, observation(patient, uid))
    from email.utils import parsedate_to_datetime
    assert parsedate_to_datetime(r.headers["Last-Modified"]) is not None
