"""Primary data and the durable event log, tried as an operator would with the real binary.

Primary data (client-posted Observations, the event log) lives in `primary.sqlite`, apart from
the derived index (`index.sqlite`), so the documented recovery path (stop, remove the index,
`minivna reindex`, start) loses nothing. Events are rows of a transactional outbox: a restart
during a study's quiet period still makes it stable, exactly once.
"""
import json
import os
import sqlite3
import subprocess
import time

import requests

from bbhelpers import make_dataset, stow, to_bytes

FHIR_JSON = "application/fhir+json"


def run(minivna_bin, *args, check=True):
    result = subprocess.run([str(minivna_bin), *args], capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, (args, result.returncode, result.stdout, result.stderr)
    return result


def events(minivna_bin, data_dir):
    out = run(minivna_bin, "events", "--data", str(data_dir)).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def remove_index(data_dir):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.unlink(os.path.join(data_dir, "index.sqlite" + suffix))
        except FileNotFoundError:
            pass


def post_observation(server, study_uid):
    patient = requests.get(f"{server.origin}/fhir/ImagingStudy/{study_uid}", timeout=30).json()["subject"]["reference"]
    body = {
        "resourceType": "Observation", "status": "preliminary",
        "code": {"coding": [{"system": "http://loinc.org", "code": "59776-5", "display": "Procedure Findings"}]},
        "subject": {"reference": patient},
        "derivedFrom": [{"reference": f"ImagingStudy/{study_uid}"}],
        "valueQuantity": {"value": 12.5, "unit": "mm", "system": "http://unitsofmeasure.org", "code": "mm"},
    }
    r = requests.post(f"{server.origin}/fhir/Observation", data=json.dumps(body),
                      headers={"Content-Type": FHIR_JSON}, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def count_observations(server):
    r = requests.get(f"{server.origin}/fhir/Observation?_summary=count", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["total"]


def study_with_observation(start_server, tmp_data_root, patient_name):
    """A server on a data folder of its own with one stored study and an Observation derived from it."""
    data = tmp_data_root / "vna"
    server = start_server(data_dir=str(data))
    ds = make_dataset(patient_name=patient_name)
    assert stow(server.base, [to_bytes(ds)]).status_code == 200
    return data, server, ds, post_observation(server, ds.StudyInstanceUID)


def test_an_observation_survives_index_removal_and_reindex(start_server, minivna_bin, tmp_data_root):
    data, server, ds, created = study_with_observation(start_server, tmp_data_root, "Primary^Data")
    assert count_observations(server) == 1
    server.stop()

    remove_index(str(data))
    reindexed = run(minivna_bin, "reindex", "--data", str(data))
    assert "indexed 1 instances" in reindexed.stdout

    server = start_server(data_dir=str(data))
    assert count_observations(server) == 1
    r = requests.get(f"{server.origin}/fhir/Observation/{created['id']}", timeout=30)
    assert r.status_code == 200, r.text
    read = r.json()
    assert read["id"] == created["id"]
    assert read["meta"]["versionId"] == created["meta"]["versionId"] == "1"
    assert read == created
    # Still searchable by the study it is derived from, whose index rows were rebuilt.
    bundle = requests.get(f"{server.origin}/fhir/Observation?derived-from=ImagingStudy/{ds.StudyInstanceUID}", timeout=30).json()
    assert [e["resource"]["id"] for e in bundle.get("entry", [])] == [created["id"]]


def test_backup_copies_the_primary_data_while_the_server_runs(start_server, minivna_bin, tmp_data_root):
    data, server, ds, created = study_with_observation(start_server, tmp_data_root, "Backup^Live")
    destination = tmp_data_root / "backups"
    destination.mkdir()
    run(minivna_bin, "backup", "--data", str(data), "--to", str(destination))
    copy = sqlite3.connect(str(destination / "primary.sqlite"))
    try:
        row = copy.execute("SELECT versionId, json FROM fhirObservation WHERE id = ?", (created["id"],)).fetchone()
        assert row is not None and row[0] == 1
        assert json.loads(row[1]) == created
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()
    # The server kept going.
    assert count_observations(server) == 1


def test_verify_reports_an_observation_whose_study_was_deleted(start_server, minivna_bin, tmp_data_root):
    data, server, ds, created = study_with_observation(start_server, tmp_data_root, "Orphan^Observation")
    assert requests.delete(f"{server.base}/studies/{ds.StudyInstanceUID}", timeout=30).status_code in (200, 202, 204)
    server.stop()
    out = run(minivna_bin, "verify", "--data", str(data)).stdout
    assert f"primary record Observation/{created['id']} names study {ds.StudyInstanceUID}" in out


def test_an_identical_resend_logs_no_event_and_a_delete_logs_one(start_server, minivna_bin, tmp_data_root):
    data = tmp_data_root / "vna"
    server = start_server(data_dir=str(data))
    ds = make_dataset(patient_name="Events^Once")
    blob = to_bytes(ds)
    assert stow(server.base, [blob]).status_code == 200
    assert stow(server.base, [blob]).status_code == 200   # identical: idempotent success
    assert requests.delete(f"{server.base}/studies/{ds.StudyInstanceUID}", timeout=30).status_code in (200, 202, 204)
    server.stop()
    mine = [e for e in events(minivna_bin, data) if e["study"] == ds.StudyInstanceUID]
    assert [e["kind"] for e in mine] == ["instance.stored", "instances.deleted"]
    assert mine[0]["instance"] == ds.SOPInstanceUID and mine[0]["origin"] == "stow"
    assert [e["sequence"] for e in mine] == sorted(e["sequence"] for e in mine)


def stable_events(minivna_bin, data, study):
    return [e for e in events(minivna_bin, data) if e["kind"] == "study.stable" and e["study"] == study]


def test_sigkill_during_the_quiet_period_then_restart_gives_exactly_one_study_stable(start_server, minivna_bin, tmp_data_root):
    data = tmp_data_root / "vna"
    quiet = ("--study-quiet-seconds", "2")
    server = start_server(*quiet, data_dir=str(data))
    ds = make_dataset(patient_name="Quiet^Period")
    assert stow(server.base, [to_bytes(ds)]).status_code == 200
    server.kill()   # SIGKILL, well within the quiet period
    assert stable_events(minivna_bin, data, ds.StudyInstanceUID) == []

    server = start_server(*quiet, data_dir=str(data))
    deadline = time.monotonic() + 30
    stable = []
    while time.monotonic() < deadline:
        time.sleep(1)
        server.stop()
        stable = stable_events(minivna_bin, data, ds.StudyInstanceUID)
        if stable:
            break
        server = start_server(*quiet, data_dir=str(data))
    assert len(stable) == 1, stable

    # Later restarts do not make it stable again.
    server = start_server(*quiet, data_dir=str(data))
    time.sleep(3)
    server.stop()
    assert len(stable_events(minivna_bin, data, ds.StudyInstanceUID)) == 1
