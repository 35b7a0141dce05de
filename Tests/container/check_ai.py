#!/usr/bin/env python3
"""The AI loop through containers (run by Tests/container/ai-pod.sh):

    check_ai.py BASE_URL ADMIN_TOKEN

STOWs the synthetic chest CT of Tests/blackbox/chest_phantom.py (40 slices: the compose demo's
`--ai-service 'lung-volume@1.0=...;modality=CT;min-instances=10'` selects it), waits for the
archive to run the lung-volume service in the other container, and checks the results came back
through the archive: the run succeeded, the SR and the SEG are in the study (QIDO), and the FHIR
Observations carry the phantom's lung volumes. Prints "N passed, N failed"; exits 1 on a failure.
"""
import json
import pathlib
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "blackbox"))
from chest_phantom import expected_volumes_ml, make_chest_ct, to_bytes  # noqa: E402

BASE, TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
passed, failed = 0, 0


def get_json(path, accept="application/json"):
    request = urllib.request.Request(BASE + path, headers={**HEADERS, "Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read()) if response.status != 204 else []


def check(name, function):
    global passed, failed
    try:
        print(f"ok    {name}: {function()}")
        passed += 1
    except Exception as error:
        print(f"FAIL  {name}: {error}")
        failed += 1


def stow_phantom():
    datasets = make_chest_ct(patient_id="CONTAINER-AI-" + uuid.uuid4().hex[:6].upper())
    boundary = "minivna-" + uuid.uuid4().hex
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + to_bytes(d) + b"\r\n"
                    for d in datasets) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(BASE + "/dicom-web/studies", data=body, method="POST", headers={
        **HEADERS, "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            raise AssertionError(f"STOW answered {response.status}")
    return datasets[0].StudyInstanceUID, len(datasets)


def wait_for_run(study):
    """The lung-volume run of the study, once finished (the study is stable after the 10 s quiet period)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        answer = get_json(f"/ai/runs?study={study}")
        runs = answer if isinstance(answer, list) else answer.get("runs", answer.get("items", []))
        finished = [run for run in runs if run.get("model") == "lung-volume"
                    and run.get("status") not in ("queued", "running", None)]
        if finished:
            return finished[-1]
        time.sleep(2)
    raise AssertionError("no finished lung-volume run within 180 s")


def main():
    try:
        study, slices = stow_phantom()
        print(f"ok    stow: chest phantom, {slices} slices, study {study}")
        run = wait_for_run(study)
    except Exception as error:
        print(f"FAIL  stow / AI run: {error}")
        print("ai: 0 passed, 1 failed")
        return 1

    def run_succeeded():
        if run.get("status") != "succeeded":
            raise AssertionError(f"run {run.get('id')}: {json.dumps(run)[:400]}")
        return f"run {run['id']} succeeded in {run.get('runtimeSeconds')} s"

    def results_in_study():
        series = get_json(f"/dicom-web/studies/{study}/series", "application/dicom+json")
        modalities = sorted({(item.get("00080060", {}).get("Value") or [""])[0] for item in series})
        for modality in ("CT", "SR", "SEG"):
            if modality not in modalities:
                raise AssertionError(f"no {modality} series in the study: {modalities}")
        return f"series modalities {modalities}"

    def volumes_in_fhir():
        reference = urllib.parse.quote(f"ImagingStudy/{study}")
        bundle = get_json(f"/fhir/Observation?derived-from={reference}&_count=100", "application/fhir+json")
        values = sorted(round(entry["resource"]["valueQuantity"]["value"], 2) for entry in bundle.get("entry", [])
                        if "valueQuantity" in entry.get("resource", {})
                        and entry["resource"]["valueQuantity"].get("unit", "").lower() in ("ml", "milliliter"))
        expected = expected_volumes_ml()
        wanted = [round(expected["right"], 2), round(expected["left"], 2)]
        missing = [v for v in wanted if not any(abs(v - got) < 0.01 for got in values)]
        if missing:
            raise AssertionError(f"volumes {missing} mL not among the Observations' {values}")
        return f"Observations with {wanted} mL (right, left)"

    check("ai run", run_succeeded)
    check("ai results (qido)", results_in_study)
    check("ai results (fhir)", volumes_in_fhir)
    print(f"ai: {passed + 1} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
