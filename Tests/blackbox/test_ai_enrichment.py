"""AI enrichment end to end against the real binary: a stable CT study gets SRs that pass
dciodvfy, highdicom and dsr2xml, FHIR Observations / DiagnosticReports / Devices that validate
with fhir.resources R4B, audited runs; later instances supersede; requests and batches;
external services that are down, slow or answer garbage; SIGKILL during analysis and during
the quiet period."""
import json
import time

import pydicom
import pytest
import requests

import aihelpers as ai
import bbhelpers as bb

highdicom = pytest.importorskip("highdicom")
R4B = pytest.importorskip("fhir.resources.R4B")
from fhir.resources.R4B.device import Device  # noqa: E402
from fhir.resources.R4B.diagnosticreport import DiagnosticReport  # noqa: E402
from fhir.resources.R4B.observation import Observation  # noqa: E402

BUILTINS = ["minivna-image-quality", "minivna-ct-dose", "minivna-data-quality"]
QUIET = ("--study-quiet-seconds", "1")


def test_a_stable_ct_gets_valid_reports_fhir_results_and_audited_runs(start_server, tmp_path):
    server = start_server(*QUIET, "--ai-concurrency", "2")
    study, instances = ai.store_ct(server)
    jobs = ai.wait_for_jobs(server, study, 3)
    assert sorted(j["analyzer"] for j in jobs) == sorted(BUILTINS)
    assert all(j["status"] == "succeeded" and j["trigger"] == "study.stable" and j["generation"] == 1 for j in jobs), jobs

    # DICOM SR: in QIDO, retrievable, valid for dciodvfy, dsr2xml and highdicom.
    srs = ai.sr_instances(server, study)
    assert len(srs) == 3
    ct_sops = {sop for _, sop, _ in instances}
    for item in srs:
        series, sop = bb.value(item, "0020000E"), bb.value(item, "00080018")
        path = ai.retrieve(server, study, series, sop, tmp_path / f"{sop}.dcm")
        assert ai.dciodvfy_errors(path) == [], path
        import subprocess
        assert subprocess.run(["dsr2xml", str(path)], capture_output=True).returncode == 0
        sr = highdicom.sr.srread(path)
        groups = sr.content.get_image_measurement_groups()
        assert groups, "no measurement groups"
        assert all(g.tracking_uid for g in groups)
        evidence = {s.ReferencedSOPInstanceUID for e in sr.CurrentRequestedProcedureEvidenceSequence
                    for r in e.ReferencedSeriesSequence for s in r.ReferencedSOPSequence}
        assert evidence == ct_sops
        assert sr.ContributingEquipmentSequence[0].PurposeOfReferenceCodeSequence[0].CodeMeaning == "Processing Algorithm"
        assert sr.SeriesDescription.startswith("AI: minivna-")
    quality = next(i for i in srs if "image-quality" in bb.value(i, "0008103E"))
    path = tmp_path / "quality.dcm"
    sr = highdicom.sr.srread(path) if path.exists() else highdicom.sr.srread(
        ai.retrieve(server, study, bb.value(quality, "0020000E"), bb.value(quality, "00080018"), path))
    measurements = {m.name.meaning: (m.value, m.unit.value) for m in sr.content.get_image_measurement_groups()[0].get_measurements()}
    assert measurements["Mean"][1] == "[hnsf'U]" and -1100 < measurements["Mean"][0] < 3000

    # FHIR: every Observation valid, derivedFrom resolves to the ImagingStudy.
    observations = ai.fhir_search(server, "Observation", **{"derived-from": f"ImagingStudy/{study}"})
    assert len(observations) >= 6
    for resource in observations:
        Observation.model_validate(resource)
        assert resource["status"] == "preliminary"
        assert resource["category"][0]["coding"][0]["code"] == "imaging"
        for reference in resource["derivedFrom"]:
            resolved = requests.get(f"{server.origin}/fhir/{reference['reference']}", timeout=10)
            assert resolved.status_code == 200 and resolved.json()["resourceType"] == "ImagingStudy"
        device = requests.get(f"{server.origin}/fhir/{resource['device']['reference']}", timeout=10)
        Device.model_validate(device.json())
    groups = [o for o in observations if o["code"]["coding"][0]["code"] == "125007"]
    assert groups and any(o.get("hasMember") for o in groups)
    assert all(o["hasMember"] for o in groups if "hasMember" in o)   # never an empty array
    members = {m["reference"].split("/")[1] for o in groups for m in o.get("hasMember", [])}
    assert members <= {o["id"] for o in observations}
    reports = ai.fhir_search(server, "DiagnosticReport", study=study, _include="DiagnosticReport:result")
    diagnostic = [r for r in reports if r["resourceType"] == "DiagnosticReport"]
    assert len(diagnostic) == 3
    for report in diagnostic:
        DiagnosticReport.model_validate(report)
        assert report["code"]["coding"][0]["code"] == "126000"
        assert report["identifier"][0]["value"].removeprefix("urn:oid:") in {bb.value(i, "00080018") for i in srs}
    assert any(r["resourceType"] == "Observation" for r in reports)   # _include
    metadata = requests.get(f"{server.origin}/fhir/metadata", timeout=10).json()
    assert {"DiagnosticReport", "Device"} <= {r["type"] for r in metadata["rest"][0]["resource"]}

    # The audit: one succeeded run per analyzer, the models with their counts.
    runs = requests.get(f"{server.origin}/ai/runs", params={"study": study}, timeout=10).json()
    assert runs["total"] == 3 and all(r["status"] == "succeeded" and r["outputs"]["srSOPInstanceUID"] for r in runs["runs"])
    models = requests.get(f"{server.origin}/ai/models", timeout=10).json()["models"]
    assert {m["name"]: m["runs"]["succeeded"] for m in models} == {name: 1 for name in BUILTINS}

    # The archive's own results never re-trigger analysis.
    time.sleep(2.5)
    assert len(ai.jobs(server, study)) == 3
    assert len(ai.sr_instances(server, study)) == 3


def test_an_instance_after_stable_reopens_the_study_and_the_next_result_supersedes(start_server, tmp_path):
    server = start_server(*QUIET, "--ai-builtins", "ct-dose")
    study, _ = ai.store_ct(server)
    first = ai.wait_for_jobs(server, study, 1)[0]
    ds = pydicom.dcmread(bb.fixture_files(ai.CT_FIXTURES)[-1])
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.InstanceNumber = 6
    assert bb.stow(server.base, [bb.to_bytes(ds)]).status_code == 200
    jobs = ai.wait_for_jobs(server, study, 2)
    second = next(j for j in jobs if j["generation"] == 2)
    assert second["status"] == "succeeded"
    srs = ai.sr_instances(server, study)
    assert len(srs) == 2 and len({bb.value(i, "0020000E") for i in srs}) == 1
    out = second["outputs"]
    path = ai.retrieve(server, study, out["srSeriesInstanceUID"], out["srSOPInstanceUID"], tmp_path / "second.dcm")
    assert ai.dciodvfy_errors(path) == []
    predecessor = pydicom.dcmread(path).PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert predecessor.ReferencedSOPInstanceUID == first["outputs"]["srSOPInstanceUID"]
    observations = ai.fhir_search(server, "Observation", **{"derived-from": study})
    superseded = {o["id"] for o in observations if any(t["code"] == "superseded" for t in o["meta"].get("tag", []))}
    assert superseded == {ref.split("/")[1] for ref in first["outputs"]["observations"]}
    assert not superseded & {ref.split("/")[1] for ref in out["observations"]}


def test_requests_and_batches_with_progress_and_cancellation(start_server):
    slow = ai.ScriptedService(lambda job: (422, b'{"error": "not a real model"}'), delay=4)
    try:
        server = start_server("--study-quiet-seconds", "3600", "--ai-builtins", "data-quality", "--ai-concurrency", "1",
                              "--ai-service", f"slow@1={slow.url};modality=CT")
        study, _ = ai.store_ct(server)
        # One study, one analyzer, on request.
        r = requests.post(f"{server.origin}/ai/analyze", json={"studyInstanceUID": study, "analyzers": ["minivna-data-quality"]}, timeout=10)
        assert r.status_code == 202, r.text
        assert [j["analyzer"] for j in r.json()["jobs"]] == ["minivna-data-quality"]
        done = ai.wait_for_jobs(server, study, 1)
        assert done[0]["status"] == "succeeded" and done[0]["trigger"] == "request"
        # Asking again for a result that is current adds no run.
        requests.post(f"{server.origin}/ai/analyze", json={"studyInstanceUID": study, "analyzers": ["minivna-data-quality"]}, timeout=10)
        assert requests.get(f"{server.origin}/ai/runs", params={"study": study}, timeout=10).json()["total"] == 1
        # Bad requests say what is wrong.
        for body, status, needle in [({"studyInstanceUID": "2.25.1"}, 404, "not in the archive"),
                                     ({"studyInstanceUID": study, "analyzers": ["nope"]}, 400, "no analyzer"),
                                     ({"bogus": 1}, 400, "unknown member"), ({}, 400, "filter"),
                                     ({"filter": {"StudyDate": "notadate"}}, 400, "")]:
            bad = requests.post(f"{server.origin}/ai/analyze", json=body, timeout=10)
            assert bad.status_code == status and needle in bad.json()["error"], (body, bad.text)
        # A retrospective batch over three more CT studies through the slow service, then cancelled.
        for index in range(3):
            ds = bb.make_dataset(patient_id="BATCH", modality="CT")
            assert bb.stow(server.base, [bb.to_bytes(ds)]).status_code == 200
        r = requests.post(f"{server.origin}/ai/analyze", json={"filter": {"PatientID": "BATCH"}, "analyzers": ["slow"],
                                                                "description": "retrospective"}, timeout=30)
        assert r.status_code == 202, r.text
        batch = r.json()
        assert batch["studies"] == 3 and batch["jobs"] == 3 and r.headers["Location"] == f"/ai/batches/{batch['batchId']}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not slow.received:
            time.sleep(0.1)
        assert slow.received, "the service got no job"
        progress = requests.get(f"{server.origin}/ai/batches/{batch['batchId']}", timeout=10).json()
        assert progress["total"] == 3 and progress["state"] == "running"
        cancelled = requests.delete(f"{server.origin}/ai/batches/{batch['batchId']}", timeout=10).json()
        assert cancelled["state"] == "cancelled" and cancelled["jobs"]["cancelled"] == 2, cancelled
        time.sleep(5)
        final = requests.get(f"{server.origin}/ai/batches/{batch['batchId']}", timeout=10).json()
        assert final["jobs"]["cancelled"] == 2 and final["jobs"]["failed"] == 1, final   # the running one finished (422)
        assert len(slow.received) == 1
        assert requests.get(f"{server.origin}/ai/batches/nope", timeout=10).status_code == 404
    finally:
        slow.close()


def test_a_service_that_is_down_fails_its_runs_with_the_reason_and_can_be_rerun(start_server):
    closed = ai.free_port()
    server = start_server(*QUIET, "--ai-builtins", "none", "--ai-attempts", "2", "--ai-retry-seconds", "0.2",
                          "--ai-service", f"down@1=http://127.0.0.1:{closed}/jobs;modality=CT")
    study, _ = ai.store_ct(server)
    job = ai.wait_for_jobs(server, study, 1)[0]
    assert job["status"] == "failed" and "did not answer" in job["lastError"] and "giving up" in job["lastError"]
    runs = requests.get(f"{server.origin}/ai/runs", params={"study": study, "status": "failed"}, timeout=10).json()
    assert runs["total"] == 2
    model = requests.get(f"{server.origin}/ai/models", timeout=10).json()["models"][0]
    assert model["runs"]["failed"] == 2 and "did not answer" in model["lastError"]
    r = requests.post(f"{server.origin}/ai/analyze", json={"studyInstanceUID": study}, timeout=10)
    assert r.status_code == 202 and r.json()["jobs"][0]["status"] == "queued"
    ai.wait_for_jobs(server, study, 1)
    assert requests.get(f"{server.origin}/ai/runs", params={"study": study}, timeout=10).json()["total"] == 4
    assert ai.sr_instances(server, study) == []


@pytest.mark.parametrize("answer,needle", [
    ((200, b"not json{"), "not findings JSON"),
    ((500, b"boom"), "answered 500"),
])
def test_a_service_that_answers_garbage_fails_with_the_reason(start_server, answer, needle):
    service = ai.ScriptedService(lambda job: answer)
    try:
        server = start_server(*QUIET, "--ai-builtins", "none", "--ai-attempts", "2", "--ai-retry-seconds", "0.1",
                              "--ai-service", f"garbage@1={service.url};modality=CT")
        study, _ = ai.store_ct(server)
        job = ai.wait_for_jobs(server, study, 1)[0]
        assert job["status"] == "failed" and needle in job["lastError"], job
        assert len(service.received) == 2
        assert bb.qido_json(server.base, f"studies/{study}/series") and not ai.sr_instances(server, study)
    finally:
        service.close()


def test_sigkill_during_analysis_then_restart_writes_exactly_one_result(start_server, tmp_data_root):
    data = tmp_data_root / "data"
    holder = {}
    service = ai.ScriptedService(lambda job: holder["answer"](job), delay=30)
    try:
        args = (*QUIET, "--ai-builtins", "none", "--ai-service", f"lesions@1={service.url};modality=CT")
        server = start_server(*args, data_dir=data)
        study, instances = ai.store_ct(server)
        holder["answer"] = ai.one_finding(*instances[0])
        running = ai.wait_for_jobs(server, study, 1, final=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (service.received and ai.jobs(server, study)[0]["status"] == "running"):
            time.sleep(0.1)
        assert ai.jobs(server, study)[0]["status"] == "running", running
        server.kill()   # SIGKILL while the service works on the job
        service.delay = 0
        server = start_server(*args, data_dir=data)
        job = ai.wait_for_jobs(server, study, 1)[0]
        assert job["status"] == "succeeded" and job["attempts"] == 2, job
        assert len(ai.sr_instances(server, study)) == 1
        assert len(ai.fhir_search(server, "Observation", **{"derived-from": study})) == 2   # the group and its length
        assert len(ai.fhir_search(server, "DiagnosticReport", study=study)) == 1
        # A second kill and restart after the result adds nothing.
        server.kill()
        server = start_server(*args, data_dir=data)
        time.sleep(2)
        assert len(ai.sr_instances(server, study)) == 1 and len(ai.jobs(server, study)) == 1
    finally:
        service.close()


def test_sigkill_during_the_quiet_period_still_analyses_the_study_after_restart(start_server, tmp_data_root):
    data = tmp_data_root / "data"
    args = ("--study-quiet-seconds", "2", "--ai-builtins", "data-quality")
    server = start_server(*args, data_dir=data)
    study, _ = ai.store_ct(server)
    server.kill()   # before the study became stable
    server = start_server(*args, data_dir=data)
    job = ai.wait_for_jobs(server, study, 1)[0]
    assert job["status"] == "succeeded" and job["generation"] == 1
    assert len(ai.sr_instances(server, study)) == 1
