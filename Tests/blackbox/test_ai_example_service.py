"""The example external service (examples/lung-volume-service) driven by MiniVNA itself: a
stable chest CT is sent to the service, which reads the pixels through WADO-RS, answers with
lung volumes (synchronously, or 202 and a callback) and a SEG; MiniVNA stores the SR, the SEG
and the Observations."""
import pytest
import requests

import aihelpers as ai
import bbhelpers as bb

pytest.importorskip("highdicom")
pytest.importorskip("scipy")
chest_phantom = pytest.importorskip("chest_phantom")
from test_example_service import Service  # noqa: E402  (the service process wrapper)


@pytest.fixture
def service_factory():
    started = []

    def start(*args):
        started.append(Service(*args))
        return started[-1]

    yield start
    for service in started:
        service.kill()


@pytest.mark.parametrize("mode", [(), ("--async",)], ids=["sync", "async"])
def test_minivna_sends_a_stable_chest_ct_to_the_example_service_and_stores_its_results(start_server, service_factory, mode, tmp_path):
    service = service_factory(*mode)
    server = start_server("--study-quiet-seconds", "1", "--ai-builtins", "none",
                          "--ai-service", f"lung-volume@1.0={service.url}/jobs;modality=CT;min-instances=10")
    slices = chest_phantom.make_chest_ct()
    study = slices[0].StudyInstanceUID
    assert bb.stow(server.base, [chest_phantom.to_bytes(ds) for ds in slices]).status_code == 200
    job = ai.wait_for_jobs(server, study, 1, timeout=120)[0]
    assert job["status"] == "succeeded", (job, service.log_text())
    outputs = job["outputs"]
    # The SEG came back through ingest, into the same study.
    assert len(outputs["instances"]) == 1
    segs = bb.qido_json(server.base, f"studies/{study}/instances", {"Modality": "SEG"})
    assert [bb.value(s, "00080018") for s in segs] == outputs["instances"]
    # The SR: three groups with the volumes, valid.
    path = ai.retrieve(server, study, outputs["srSeriesInstanceUID"], outputs["srSOPInstanceUID"], tmp_path / "sr.dcm")
    assert ai.dciodvfy_errors(path) == []
    import highdicom
    groups = highdicom.sr.srread(path).content.get_image_measurement_groups()
    measured = {str(g.tracking_identifier): g.get_measurements()[0].value for g in groups}
    expected = chest_phantom.expected_volumes_ml()
    for name, key in [("Right lung", "right"), ("Left lung", "left"), ("Lungs", "total")]:
        assert abs(float(measured[name]) - expected[key]) <= 0.03 * expected[key], (name, measured, expected)
    # The Observations: volumes in mL, linked to the study.
    volumes = [o for o in ai.fhir_search(server, "Observation", **{"derived-from": study}) if o["code"]["coding"][0]["code"] == "118565006"]
    assert len(volumes) == 3 and all(o["valueQuantity"]["code"] == "ml" for o in volumes)
    device = requests.get(f"{server.origin}/fhir/{volumes[0]['device']['reference']}", timeout=10).json()
    assert device["version"][0]["value"] == "1.0" and device["deviceName"][0]["name"] == "lung-volume"


def test_with_authentication_on_the_service_reads_through_its_study_scoped_job_token(start_server, service_factory, monkeypatch):
    """The job carries a job token (ai-service, this study only); the service's WADO reads are
    accepted and audited under it, while MiniVNA's other routes still need credentials."""
    admin = "admin-token-for-the-ai-test-0123"
    service = service_factory()
    server = start_server("--study-quiet-seconds", "1", "--ai-builtins", "none",
                          "--ai-service", f"lung-volume@1.0={service.url}/jobs;modality=CT;min-instances=10",
                          env={"MINIVNA_API_KEYS": f"boss:admin:{admin}"})
    assert requests.get(f"{server.base}/studies", timeout=10).status_code == 401
    # This test's own client sends the admin key on every request.
    original = requests.Session.request

    def with_token(self, method, url, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {admin}")
        return original(self, method, url, headers=headers, **kwargs)

    monkeypatch.setattr(requests.Session, "request", with_token)
    slices = chest_phantom.make_chest_ct()
    study = slices[0].StudyInstanceUID
    assert bb.stow(server.base, [chest_phantom.to_bytes(ds) for ds in slices]).status_code == 200
    job = ai.wait_for_jobs(server, study, 1, timeout=120)[0]
    assert job["status"] == "succeeded", (job, service.log_text())
    audit = requests.get(f"{server.origin}/audit", params={"principal": "lung-volume@1.0", "limit": 1000}, timeout=10).json()
    assert audit["total"] > 0
    assert all(r["roles"] == ["ai-service"] and r["studies"] == [study] and r["status"] == 200 for r in audit["records"])
