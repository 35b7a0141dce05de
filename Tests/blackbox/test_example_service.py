"""The example inference service (examples/lung-volume-service) against a real MiniVNA.

The synthetic chest phantom (chest_phantom.py) is stored in a real `minivna serve`; the
service is started as its own process, given jobs over HTTP like MiniVNA would, and reads the
series back through MiniVNA's DICOMweb API. Checked: the volumes against the phantom's known
voxel volumes, the references, the returned DICOM SEG (decoded with highdicom), deterministic
UIDs on replay, asynchronous delivery to a callback, the 400/422 errors and the fault modes.
"""
import base64
import copy
import io
import json
import pathlib
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

for _module in ("numpy", "scipy", "highdicom", "dicomweb_client"):
    pytest.importorskip(_module, reason=f"the example service needs {_module} "
                                        f"(pip install -r examples/lung-volume-service/requirements.txt)")

import highdicom as hd  # noqa: E402
import pydicom  # noqa: E402
import requests  # noqa: E402

import chest_phantom  # noqa: E402
from bbhelpers import make_dataset, stow  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVICE = REPO / "examples" / "lung-volume-service" / "service.py"
TOKEN = "example-token"

pytestmark = pytest.mark.skipif(not SERVICE.is_file(), reason=f"{SERVICE} is missing")


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def archive(module_server):
    """MiniVNA holding the phantom (axial series stored in shuffled order, plus a 2-slice
    localizer series in the same study) and an MR-only study."""
    study_uid = pydicom.uid.generate_uid()
    axial = chest_phantom.make_chest_ct(study_uid=study_uid)
    scout = []
    for k, source in enumerate(axial[:2]):
        ds = copy.deepcopy(source)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.SeriesInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[study_uid, "scout"])
        ds.SOPInstanceUID = pydicom.uid.generate_uid(entropy_srcs=[study_uid, "scout", str(k)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 1
        scout.append(ds)
    shuffled = list(axial)
    random.Random(7).shuffle(shuffled)
    r = stow(module_server.base, [chest_phantom.to_bytes(d) for d in shuffled + scout])
    assert r.status_code == 200, (r.status_code, r.text[:500])

    mr_study = pydicom.uid.generate_uid()
    mr_series = pydicom.uid.generate_uid()
    mr = [make_dataset(modality="MR", study_uid=mr_study, series_uid=mr_series, instance_number=i + 1,
                       patient_id="MRONLY") for i in range(3)]
    r = stow(module_server.base, [chest_phantom.to_bytes(d) for d in mr])
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return {"server": module_server, "study": study_uid, "series": axial[0].SeriesInstanceUID,
            "axial": axial, "scout_series": scout[0].SeriesInstanceUID,
            "mr_study": mr_study, "mr_series": mr_series}


class Service:
    """One running service.py process, started on a free port (--port 0)."""

    def __init__(self, *args):
        self.log = tempfile.NamedTemporaryFile(prefix="lung-service-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, str(SERVICE), "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        prefix = "listening on http://127.0.0.1:"
        if not line.startswith(prefix):
            self.kill()
            raise RuntimeError(f"service did not start: {line!r}\n{self.log_text()}")
        self.port = int(line[len(prefix):])
        self.url = f"http://127.0.0.1:{self.port}"

    def log_text(self):
        return pathlib.Path(self.log.name).read_text(errors="replace")[-4000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
        pathlib.Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture
def start_service():
    services = []

    def start(*args):
        service = Service(*args)
        services.append(service)
        return service

    yield start
    for service in services:
        service.kill()


@pytest.fixture(scope="module")
def sync_service():
    service = Service()
    yield service
    service.kill()


class CallbackReceiver:
    """A tiny HTTP server in a thread that records the POSTs the service makes to it."""

    def __init__(self):
        received = self.received = []
        event = self.event = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()
                event.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            self.event.wait(0.1)
            self.event.clear()
        return self.received

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = CallbackReceiver()
    yield r
    r.close()


def job(archive, job_id, **overrides):
    body = {"jobId": job_id, "studyInstanceUID": archive["study"], "seriesInstanceUIDs": [archive["series"]],
            "dicomwebBaseURL": archive["server"].base, "callbackURL": None, "accessToken": TOKEN,
            "model": {"name": "lung-volume", "version": "1.0"}}
    body.update(overrides)
    return body


def post(service, body, timeout=120, path="/jobs"):
    return requests.post(service.url + path, json=body, timeout=timeout)


def decode_seg(result):
    (encoded,) = result["instances"]
    raw = base64.b64decode(encoded)
    return raw, hd.seg.segread(io.BytesIO(raw))


def volumes(result):
    return {g["trackingIdentifier"]: g["measurements"][0]["value"] for g in result["groups"]}


def close_to(measured, expected, rel=0.03):
    return abs(measured - expected) <= rel * expected


# --- synchronous jobs ------------------------------------------------------------------------

def test_health(sync_service):
    r = requests.get(sync_service.url + "/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_sync_job_measures_both_lungs_and_returns_a_seg(archive, sync_service):
    r = post(sync_service, job(archive, "job-sync-1"))
    assert r.status_code == 200, (r.status_code, r.text[:500], sync_service.log_text())
    result = r.json()
    assert result["jobId"] == "job-sync-1"
    assert result["model"] == {"name": "lung-volume", "version": "1.0", "manufacturer": "MiniVNA examples"}
    assert result["algorithm"]["name"] == "HU-threshold lung segmentation"
    assert "not a trained model" in result["algorithm"]["description"]

    expected = chest_phantom.expected_volumes_ml()
    got = volumes(result)
    assert list(got) == ["Right lung", "Left lung", "Lungs"]
    assert close_to(got["Right lung"], expected["right"]), (got, expected)
    assert close_to(got["Left lung"], expected["left"]), (got, expected)
    assert close_to(got["Lungs"], expected["total"]), (got, expected)
    assert got["Right lung"] > got["Left lung"]  # the phantom's right lung is the larger one

    sites = {g["trackingIdentifier"]: g["findingSite"]["code"] for g in result["groups"]}
    assert sites == {"Right lung": "3341006", "Left lung": "44029006", "Lungs": "39607008"}
    all_slices = {d.SOPInstanceUID for d in archive["axial"]}
    for group in result["groups"]:
        assert group["finding"] == {"scheme": "SCT", "code": "39607008", "meaning": "Lung structure"}
        assert group["priority"] == "routine" and group["qualitative"] == []
        (m,) = group["measurements"]
        assert m["concept"]["code"] == "118565006" and m["unit"] == {"code": "ml", "meaning": "milliliter"}
        refs = group["references"]
        assert {ref["sopInstanceUID"] for ref in refs} == all_slices and len(refs) == len(all_slices)
        assert {ref["seriesInstanceUID"] for ref in refs} == {archive["series"]}
        assert {ref["sopClassUID"] for ref in refs} == {chest_phantom.CT_IMAGE_STORAGE}

    raw, seg = decode_seg(result)
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert seg.StudyInstanceUID == archive["study"]
    assert seg.SegmentationType == "BINARY"
    assert seg.number_of_segments == 2
    labels = {d.SegmentNumber: (d.SegmentLabel, d.SegmentedPropertyTypeCodeSequence[0].CodeValue,
                                d.SegmentedPropertyCategoryCodeSequence[0].CodeValue, d.SegmentAlgorithmType)
              for d in seg.SegmentSequence}
    assert labels == {1: ("Right lung", "3341006", "91723000", "AUTOMATIC"),
                      2: ("Left lung", "44029006", "91723000", "AUTOMATIC")}
    algorithm = seg.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert algorithm.AlgorithmName == "HU-threshold lung segmentation"
    assert len(seg.SeriesInstanceUID) <= 64 and len(seg.SOPInstanceUID) <= 64
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == archive["series"]

    # The SEG's own voxels give the same volumes as the JSON.
    voxel_ml = 2.5 * 2.5 * 5.0 / 1000.0
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), -1).sum(axis=1)
    per_segment = {1: 0, 2: 0}
    for item, count in zip(seg.PerFrameFunctionalGroupsSequence, frames):
        per_segment[int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)] += int(count)
    assert per_segment[1] * voxel_ml == pytest.approx(got["Right lung"], abs=0.1)
    assert per_segment[2] * voxel_ml == pytest.approx(got["Left lung"], abs=0.1)

    # Replay: same jobId, same objects (byte for byte), so the archive stores it idempotently.
    again = post(sync_service, job(archive, "job-sync-1"))
    assert again.status_code == 200
    raw2, seg2 = decode_seg(again.json())
    assert (seg2.SeriesInstanceUID, seg2.SOPInstanceUID) == (seg.SeriesInstanceUID, seg.SOPInstanceUID)
    assert raw2 == raw
    base = archive["server"].base
    first = stow(base, [raw])
    assert first.status_code == 200, (first.status_code, first.text[:500])
    replay = stow(base, [raw2])
    assert replay.status_code == 200, (replay.status_code, replay.text[:500])

    # Another job, other UIDs.
    other = post(sync_service, job(archive, "job-sync-2", returnInstances=True))
    _, seg3 = decode_seg(other.json())
    assert seg3.SOPInstanceUID != seg.SOPInstanceUID and seg3.SeriesInstanceUID != seg.SeriesInstanceUID


def test_no_series_listed_uses_the_study_and_skips_the_scout(archive, sync_service):
    """An empty series list means every series of the study; POST / works like POST /jobs;
    returnInstances false leaves the SEG out."""
    r = post(sync_service, job(archive, "job-all-series", seriesInstanceUIDs=[], returnInstances=False), path="/")
    assert r.status_code == 200, r.text[:500]
    result = r.json()
    assert "instances" not in result
    assert {ref["seriesInstanceUID"] for ref in result["groups"][0]["references"]} == {archive["series"]}


def test_no_seg_flag(archive, start_service):
    service = start_service("--no-seg")
    r = post(service, job(archive, "job-no-seg"))
    assert r.status_code == 200 and "instances" not in r.json()
    assert len(r.json()["groups"]) == 3


# --- errors --------------------------------------------------------------------------------------

def test_study_without_ct_is_422(archive, sync_service):
    r = post(sync_service, job(archive, "job-mr", studyInstanceUID=archive["mr_study"],
                               seriesInstanceUIDs=[archive["mr_series"]]))
    assert r.status_code == 422, r.text[:500]
    body = r.json()
    assert body["jobId"] == "job-mr"
    assert "no CT series" in body["error"] and "MR" in body["error"]


def test_only_a_scout_is_422(archive, sync_service):
    r = post(sync_service, job(archive, "job-scout", seriesInstanceUIDs=[archive["scout_series"]]))
    assert r.status_code == 422 and "localizer" in r.json()["error"]


def test_unknown_series_is_422(archive, sync_service):
    r = post(sync_service, job(archive, "job-unknown", seriesInstanceUIDs=["1.2.3.4.5.6.7"]))
    assert r.status_code == 422, r.text[:500]
    assert r.json()["jobId"] == "job-unknown" and r.json()["error"]


@pytest.mark.parametrize("body, needle", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"studyInstanceUID": "1.2", "dicomwebBaseURL": "http://x"}).encode(), "jobId"),
    (json.dumps({"jobId": "j", "studyInstanceUID": "1.2", "dicomwebBaseURL": "http://x",
                 "seriesInstanceUIDs": "1.2.3"}).encode(), "seriesInstanceUIDs"),
])
def test_bad_request_body_is_400(sync_service, body, needle):
    r = requests.post(sync_service.url + "/jobs", data=body, headers={"Content-Type": "application/json"},
                      timeout=10)
    assert r.status_code == 400
    assert needle in r.json()["error"]


# --- asynchronous mode ---------------------------------------------------------------------------

def test_async_job_posts_the_result_to_the_callback(archive, start_service, receiver):
    service = start_service("--async", "--no-seg")
    r = post(service, job(archive, "job-async", callbackURL=receiver.url), timeout=10)
    assert r.status_code == 202 and r.json() == {"jobId": "job-async"}
    bad = post(service, job(archive, "job-async-mr", callbackURL=receiver.url,
                            studyInstanceUID=archive["mr_study"], seriesInstanceUIDs=[archive["mr_series"]]),
               timeout=10)
    assert bad.status_code == 202

    received = receiver.wait(2)
    assert len(received) == 2, service.log_text()
    by_job = {json.loads(body)["jobId"]: (headers, json.loads(body)) for headers, body in received}
    headers, result = by_job["job-async"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Content-Type"] == "application/json"
    expected = chest_phantom.expected_volumes_ml()
    got = volumes(result)
    assert close_to(got["Right lung"], expected["right"]) and close_to(got["Left lung"], expected["left"])
    assert "instances" not in result

    _, error = by_job["job-async-mr"]
    assert set(error) == {"jobId", "error"} and "no CT series" in error["error"]

    missing = post(service, job(archive, "job-async-nocb"), timeout=10)
    assert missing.status_code == 400 and "callbackURL" in missing.json()["error"]


# --- fault modes --------------------------------------------------------------------------------

def test_fail_mode_garbage(archive, start_service):
    service = start_service("--fail-mode", "garbage")
    r = post(service, job(archive, "job-garbage"), timeout=10)
    assert r.status_code == 200 and r.content == b"not json{"


def test_fail_mode_500(archive, start_service):
    service = start_service("--fail-mode", "500")
    r = post(service, job(archive, "job-500"), timeout=10)
    assert r.status_code == 500 and r.json()["jobId"] == "job-500"


def test_fail_mode_slow_does_not_answer_quickly(archive, start_service):
    service = start_service("--fail-mode", "slow")
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(service, job(archive, "job-slow"), timeout=1.0)


def test_fail_mode_down_after_start_refuses_connections(start_service):
    service = start_service("--fail-mode", "down-after-start")
    assert service.proc.poll() is None  # the process is up...
    with pytest.raises(OSError):  # ...but nothing listens on its port
        socket.create_connection(("127.0.0.1", service.port), timeout=2).close()
