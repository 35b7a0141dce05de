"""Crash safety: SIGKILL the server during concurrent STOW uploads, restart, check the archive.

Every instance acknowledged with 200 before the kill must be found after the restart, and
`minivna verify` must report the index and the files in agreement. Instances whose request
was cut may or may not be there.
"""
import pathlib
import subprocess
import threading
import time

import requests

from bbhelpers import (N_STUDY_INSTANCES, SOP_UID, failure_reasons, make_dataset, qido_json, stow,
                       to_bytes, uids, value)

THREADS = 4
PER_THREAD = 50          # 200 instances in all
KILL_AFTER_ACKED = 60    # SIGKILL once this many are acknowledged


def _uploader(base, blobs, acked, lock, stop):
    for sop, blob in blobs:
        if stop.is_set():
            return
        try:
            r = stow(base, [blob], timeout=30)
        except requests.RequestException:
            return  # the server is gone
        if r.status_code == 200:
            with lock:
                acked.append(sop)


def _run_round(server, studies, round_no):
    acked, lock, stop = [], threading.Lock(), threading.Event()
    threads = []
    for t in range(THREADS):
        blobs = []
        for i in range(PER_THREAD):
            ds = make_dataset(patient_name=f"Crash^T{t}", patient_id=f"CRASH-{t}",
                              study_uid=studies[t][0], series_uid=studies[t][1],
                              instance_number=round_no * 1000 + i + 1, pixels=True)
            blobs.append((ds.SOPInstanceUID, to_bytes(ds)))
        th = threading.Thread(target=_uploader, args=(server.base, blobs, acked, lock, stop),
                              daemon=True)
        threads.append(th)
    for th in threads:
        th.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= KILL_AFTER_ACKED:
                break
        if not any(th.is_alive() for th in threads):
            break
        time.sleep(0.002)
    server.kill()  # SIGKILL
    stop.set()
    for th in threads:
        th.join(timeout=30)
    with lock:
        done = list(acked)
    assert len(done) >= KILL_AFTER_ACKED, f"only {len(done)} acknowledged before the kill"
    assert len(done) < THREADS * PER_THREAD, "the kill came after every upload finished"
    return done


def _found(base, sops):
    found = set()
    for i in range(0, len(sops), 25):
        chunk = sops[i:i + 25]
        res = qido_json(base, "instances", {"SOPInstanceUID": ",".join(chunk), "limit": "100"})
        found |= set(uids(res, SOP_UID))
    return found


def _verify(binary, data_dir):
    return subprocess.run([str(binary), "verify", "--data", data_dir],
                          capture_output=True, text=True, timeout=120)


def test_sigkill_during_uploads(start_server, minivna_bin, tmp_data_root):
    data = str(tmp_data_root / "data")
    studies = [(make_dataset().StudyInstanceUID, make_dataset().SeriesInstanceUID)
               for _ in range(THREADS)]
    all_acked = []
    server = start_server(data_dir=data)
    for round_no in range(2):
        all_acked += _run_round(server, studies, round_no)
        server = start_server(data_dir=data)
        found = _found(server.base, all_acked)
        missing = sorted(set(all_acked) - found)
        assert not missing, f"{len(missing)} acknowledged instances lost after SIGKILL: " \
                            f"{missing[:5]}"
    # the index counts agree with the instances it lists
    for study, _ in studies:
        rows = qido_json(server.base, f"studies/{study}/instances", {"limit": "1000"})
        st = qido_json(server.base, "studies", {"StudyInstanceUID": study})
        assert len(st) == 1
        assert value(st[0], N_STUDY_INSTANCES) == len(rows)
    server.stop()

    # The restart recovered interrupted ingests (ingest.journal): index and files agree.
    out = _verify(minivna_bin, data)
    assert out.returncode == 0, f"verify after SIGKILL + restart:\n{out.stdout}\n{out.stderr}"
    assert out.stdout.strip().endswith("clean"), out.stdout
    server = start_server(data_dir=data)
    assert _found(server.base, all_acked) == set(all_acked)


def _store_elsewhere(start_server, ds):
    """Store ds in a throwaway archive; returns (relative path under it, bytes) of its file."""
    other = start_server()
    assert stow(other.base, [to_bytes(ds)]).status_code == 200
    other.stop()
    files = [p for p in pathlib.Path(other.data_dir).rglob(f"{ds.SOPInstanceUID}*")
             if p.is_file()]
    assert len(files) == 1, files
    return files[0].relative_to(other.data_dir), files[0].read_bytes()


def test_verify_clean_after_crash_leftover(start_server, minivna_bin, tmp_data_root):
    """Deterministic form of a SIGKILL between the rename and the index commit: the file of an
    interrupted upload is at its final path, the transaction never committed. The restart
    removes it (it was never acknowledged), so verify is clean."""
    data = str(tmp_data_root / "data")
    server = start_server(data_dir=data)
    kept = make_dataset(patient_name="Crash^Kept")
    assert stow(server.base, [to_bytes(kept)]).status_code == 200
    server.kill()
    interrupted = make_dataset(patient_name="Crash^Interrupted")
    rel, raw = _store_elsewhere(start_server, interrupted)
    target = pathlib.Path(data) / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(raw)
    # What the crash leaves besides the file: the journal naming it after the last
    # transaction marker (paths are relative to files/).
    journal = pathlib.Path(data) / "ingest.journal"
    with open(journal, "a") as f:
        f.write("#\n" + str(pathlib.Path(*rel.parts[1:])) + "\n")
    server = start_server(data_dir=data)   # the restart after the crash
    assert _found(server.base, [kept.SOPInstanceUID]) == {kept.SOPInstanceUID}
    server.stop()
    out = _verify(minivna_bin, data)
    assert out.returncode == 0 and out.stdout.strip().endswith("clean"), out.stdout


def test_verify_detects_damage(start_server, minivna_bin, tmp_data_root):
    """Control for the check above: verify is not clean when a stored file is removed."""
    data = str(tmp_data_root / "data")
    server = start_server(data_dir=data)
    ds = make_dataset(patient_name="Verify^Control")
    assert stow(server.base, [to_bytes(ds)]).status_code == 200
    server.stop()
    assert _verify(minivna_bin, data).returncode == 0
    victims = [p for p in pathlib.Path(data).rglob(f"*{ds.SOPInstanceUID}*") if p.is_file()]
    assert victims, "stored file not found under the data folder"
    for p in victims:
        p.unlink()
    out = _verify(minivna_bin, data)
    assert out.returncode != 0, out.stdout
    assert "clean" not in out.stdout.lower().split(), out.stdout


def test_concurrent_single_instance_requests_each_get_their_own_outcome(start_server):
    """Concurrent requests share index transactions (group commit); each still gets the outcome
    of its own instances: new ones 200, the same bytes again 200 (idempotent), other bytes under
    a stored SOP Instance UID 409 with FailureReason 0x0111; and everything 200 is searchable."""
    server = start_server()
    study, series = "2.25.8100", "2.25.8101"
    blobs = [to_bytes(make_dataset(study_uid=study, series_uid=series, sop_uid=f"2.25.8102.{i}",
                                   instance_number=i + 1)) for i in range(24)]
    duplicate = blobs[0]
    conflicting = to_bytes(make_dataset(study_uid=study, series_uid=series, sop_uid="2.25.8102.1",
                                        instance_number=2, study_description="other content"))
    assert stow(server.base, [blobs[1]]).status_code == 200   # stored before the burst
    sends = [blobs[i] for i in range(2, 24)] + [duplicate, duplicate, duplicate, conflicting]
    results = [None] * len(sends)
    barrier = threading.Barrier(8)

    def send(worker):
        barrier.wait()
        for k in range(worker, len(sends), 8):
            results[k] = stow(server.base, [sends[k]])

    threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = [r.status_code for r in results]
    assert statuses[:-1] == [200] * (len(sends) - 1), statuses
    assert statuses[-1] == 409
    assert failure_reasons(results[-1].json()) == [0x0111]
    found = uids(qido_json(server.base, f"/studies/{study}/instances"), SOP_UID)
    assert sorted(found) == sorted(f"2.25.8102.{i}" for i in range(24))
    server.stop()
    check = _verify(server.binary, server.data_dir)
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_second_process_cannot_open_a_data_folder_in_use(start_server, minivna_bin, tmp_path):
    """Opening a data folder recovers interrupted ingests (it removes files whose rows are not
    committed, and every upload in tmp/): run against a live server's folder, that would delete
    what the server is about to acknowledge. So verify, import and reindex refuse a folder in use."""
    server = start_server()
    ds = make_dataset(patient_name="Lock^Held")
    assert stow(server.base, [to_bytes(ds)]).status_code == 200
    upload = pathlib.Path(server.data_dir) / "tmp" / "upload-in-progress.part"
    upload.write_bytes(b"half an upload")
    incoming = tmp_path / "incoming.dcm"
    incoming.write_bytes(to_bytes(make_dataset(patient_name="Lock^Import")))
    for args in (["verify"], ["reindex"], ["import", str(incoming)]):
        out = subprocess.run([str(minivna_bin), *args, "--data", server.data_dir], capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "in use by another MiniVNA process" in out.stderr + out.stdout, (args, out.stderr)
    assert upload.exists()
    assert _found(server.base, [ds.SOPInstanceUID]) == {ds.SOPInstanceUID}
    assert stow(server.base, [to_bytes(make_dataset(patient_name="Lock^After"))]).status_code == 200
    server.stop()
    out = _verify(minivna_bin, server.data_dir)
    assert out.returncode == 0 and out.stdout.strip().endswith("clean"), out.stdout + out.stderr
