"""Helpers of the AI enrichment black-box tests: waiting for jobs, fetching the SRs and FHIR
resources the archive wrote, and small in-test inference services (slow, down, garbage)."""
import http.server
import json
import socket
import subprocess
import threading
import time

import requests

import bbhelpers as bb

CT_FIXTURES = "ct/*.dcm"


def store_ct(server):
    """STOW the committed five-slice CT; returns (study UID, [(series, sop, sop class)])."""
    files = bb.fixture_files(CT_FIXTURES)
    r = bb.stow(server.base, [f.read_bytes() for f in files])
    assert r.status_code == 200, r.text
    import pydicom
    instances = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    return instances[0].StudyInstanceUID, [(d.SeriesInstanceUID, d.SOPInstanceUID, d.SOPClassUID) for d in instances]


def jobs(server, study):
    r = requests.get(f"{server.origin}/ai/jobs", params={"study": study}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["jobs"]


def wait_for_jobs(server, study, count, timeout=60, final=True):
    """The study's jobs once `count` exist and (with `final`) none is queued or running."""
    deadline = time.monotonic() + timeout
    found = []
    while time.monotonic() < deadline:
        found = jobs(server, study)
        if len(found) >= count and (not final or all(j["status"] not in ("queued", "running") for j in found)):
            return found
        time.sleep(0.2)
    raise AssertionError(f"jobs of {study} after {timeout} s: {json.dumps(found, indent=1)}\nlog:\n{server.log()}")


def sr_instances(server, study):
    return bb.qido_json(server.base, f"studies/{study}/instances", {"Modality": "SR"})


def retrieve(server, study, series, sop, path):
    r = requests.get(f"{server.base}/studies/{study}/series/{series}/instances/{sop}",
                     headers={"Accept": "application/dicom"}, timeout=30)
    assert r.status_code == 200, r.text
    path.write_bytes(r.content)
    return path


def dciodvfy_errors(path):
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def fhir_search(server, type_, **params):
    r = requests.get(f"{server.origin}/fhir/{type_}", params={"_count": 200, **params}, timeout=30)
    assert r.status_code == 200, r.text
    return [e["resource"] for e in r.json().get("entry", [])]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ScriptedService:
    """An inference service in a thread: `answer(job_json) -> (status, body bytes)`; can be
    told to hang for a while before answering. Records the jobs it received."""

    def __init__(self, answer, delay=0.0):
        self.answer = answer
        self.delay = delay
        self.received = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                job = json.loads(body)
                outer.received.append(job)
                time.sleep(outer.delay)
                status, payload = outer.answer(job)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/jobs"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def one_finding(series, sop, sop_class):
    """A findings answer naming one instance: a lesion with a length."""
    def answer(job):
        return 200, json.dumps({"jobId": job["jobId"], "groups": [{
            "trackingIdentifier": "Lesion 1", "priority": "urgent", "confidence": 0.75,
            "finding": {"scheme": "SCT", "code": "52988006", "meaning": "Lesion"},
            "findingSite": {"scheme": "SCT", "code": "10200004", "meaning": "Liver"},
            "references": [{"seriesInstanceUID": series, "sopInstanceUID": sop, "sopClassUID": sop_class}],
            "measurements": [{"concept": {"scheme": "SCT", "code": "410668003", "meaning": "Length"},
                              "value": 12.5, "unit": {"code": "mm", "meaning": "millimeter"}}]}]}).encode()
    return answer
