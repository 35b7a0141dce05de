#!/usr/bin/env python3
"""AI enrichment figures, run by hand from the repository root after a release build (not in CI):

    swift build -c release --product minivna
    python3 Benchmarks/ai_enrichment.py [--binary .build/release/minivna] [--studies 60] [--slices 300]

1. Ingest throughput with enrichment off vs on (target: within 10 %), A/B under the same drift:
   two servers up at once, STOW requests alternating one by one. Server A runs `--no-ai`;
   server B runs the three built-in analyzers with a 1 s quiet period (so studies become
   stable and are analysed while the ingest goes on) plus an external service that is down
   (a closed port: every job fails and is retried). Each request is one study of 8 CT slices
   (256 x 256, 16-bit). Prints requests/s and p50/p95 latency per server.
2. Time from the last instance of a CT study acknowledged to its last SR available, minus the
   quiet period (target < 2 s for a 300-slice CT with the built-in analyzers).
3. The image-quality analyzer's pixel throughput (MB of decoded pixels per second of its run).
"""
from __future__ import annotations

import argparse
import http.client
import io
import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stow_qido as sq  # noqa: E402  (server start-up and process clean-up)

BOUNDARY = "aibench"
HEADERS = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'}


def ct_study(slices: int, size: int, rng: np.random.Generator) -> list[bytes]:
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    out = []
    for index in range(slices):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "Bench^AI", "AIB", "20260101", "CT"
        ds.AccessionNumber, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "AIB1", "1", 1, index + 1
        ds.BodyPartExamined, ds.KVP, ds.SliceThickness, ds.CTDIvol = "CHEST", 120, 1.0, 8.5
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [0, 0, float(index)], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (rng.normal(1064, 30, (size, size)).clip(0, 4095)).astype("<u2").tobytes()
        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        out.append(buffer.getvalue())
    return out


def body(parts: list[bytes]) -> bytes:
    out = bytearray()
    for part in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


def post(connection: http.client.HTTPConnection, payload: bytes) -> int:
    connection.request("POST", "/dicom-web/studies", body=payload, headers={**HEADERS, "Content-Length": str(len(payload))})
    response = connection.getresponse()
    response.read()
    return response.status


def get_json(origin: str, path: str):
    host, port = origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("GET", path)
    response = connection.getresponse()
    return json.loads(response.read())


def origin(server) -> str:
    return server.base.removesuffix("/dicom-web")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def throughput(binary: Path, root: Path, studies: int, rng) -> None:
    payloads = [body(ct_study(8, 256, rng)) for _ in range(studies)]
    down = f"down@1=http://127.0.0.1:{closed_port()}/jobs;modality=CT"
    a = sq.start_minivna(binary, root / "off", root / "off.log", ("--no-ai",), name="AI off")
    b = sq.start_minivna(binary, root / "on", root / "on.log",
                         ("--study-quiet-seconds", "1", "--ai-service", down, "--ai-attempts", "3", "--ai-retry-seconds", "0.5"),
                         name="AI on (+ a service that is down)")
    try:
        times = {a.name: [], b.name: []}
        connections = {}
        for server in (a, b):
            host, port = origin(server).removeprefix("http://").split(":")
            connections[server.name] = http.client.HTTPConnection(host, int(port), timeout=120)
        for index, payload in enumerate(payloads):
            order = (a, b) if index % 2 == 0 else (b, a)
            for server in order:
                start = time.perf_counter()
                status = post(connections[server.name], payload)
                times[server.name].append(time.perf_counter() - start)
                assert status == 200, (server.name, status)
        print(f"1. ingest, {studies} studies of 8 slices 256x256 per server, alternating requests:")
        for name, values in times.items():
            values.sort()
            print(f"   {name:36s} {len(values) / sum(values):6.1f} req/s  p50 {1000 * values[len(values) // 2]:6.1f} ms"
                  f"  p95 {1000 * values[int(len(values) * 0.95)]:6.1f} ms")
        off, on = (len(times[a.name]) / sum(times[a.name]), len(times[b.name]) / sum(times[b.name]))
        print(f"   AI on / AI off: {100 * on / off:.1f} %")
        time.sleep(3)
        runs = get_json(origin(b), "/ai/runs?limit=1")
        print(f"   runs recorded by the AI server meanwhile: {runs['total']}")
    finally:
        a.stop()
        b.stop()


def latency(binary: Path, root: Path, slices: int, rng) -> None:
    quiet = 1.0
    server = sq.start_minivna(binary, root / "latency", root / "latency.log", ("--study-quiet-seconds", str(quiet)), name="AI")
    try:
        parts = ct_study(slices, 512, rng)
        study = pydicom.dcmread(io.BytesIO(parts[0]), stop_before_pixels=True).StudyInstanceUID
        host, port = origin(server).removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=300)
        for start in range(0, slices, 50):
            assert post(connection, body(parts[start:start + 50])) == 200
        last_ack = time.time()
        deadline = last_ack + 300
        jobs = []
        while time.time() < deadline:
            jobs = get_json(origin(server), f"/ai/jobs?study={study}")["jobs"]
            if len(jobs) == 3 and all(j["status"] not in ("queued", "running") for j in jobs):
                break
            time.sleep(0.05)
        done = time.time()
        print(f"2. {slices}-slice CT (512x512): last instance acknowledged -> all 3 SRs stored, minus the {quiet:.0f} s quiet period:"
              f" {done - last_ack - quiet:.2f} s  ({', '.join(j['analyzer'] + ' ' + j['status'] for j in jobs)})")
        runs = get_json(origin(server), f"/ai/runs?study={study}")["runs"]
        for run in runs:
            print(f"   {run['model']:24s} {float(run['runtimeSeconds']):6.2f} s")
        quality = next(r for r in runs if r["model"] == "minivna-image-quality")
        megabytes = slices * 512 * 512 * 2 / 1e6
        print(f"3. image quality: {megabytes:.0f} MB of pixels in {float(quality['runtimeSeconds']):.2f} s"
              f" = {megabytes / float(quality['runtimeSeconds']):.0f} MB/s (decode included, one series, one worker)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, default=Path(".build/release/minivna"))
    parser.add_argument("--studies", type=int, default=60)
    parser.add_argument("--slices", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    root = Path(tempfile.mkdtemp(prefix="minivna-aibench-"))
    try:
        throughput(args.binary.resolve(), root, args.studies, rng)
        latency(args.binary.resolve(), root, args.slices, rng)
    finally:
        sq.cleanup_children()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
