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
