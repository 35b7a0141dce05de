#!/usr/bin/env python3
"""Large STOW upload: peak server RSS while storing one multi-GB multipart request.

Issue 3 asks that storing a 2 GB upload of many instances keeps the server's RSS under 300 MB
(the body is streamed to disk part by part). This script starts the release binary on a temp
data folder, streams one `multipart/related` request of N instances of S MB each (generated on
the fly, never held in memory here either), samples the server's VmRSS every 50 ms, and prints
the peak, the upload rate and the STOW status; then checks the instances are searchable.

    swift build -c release --product minivna
    python3 Benchmarks/stow_large_upload.py [--instances 256] [--megabytes 8] [--minivna PATH]

A benchmark, not a test: it prints figures and exits 0 unless something failed outright.
"""
import argparse
import io
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage

REPO = pathlib.Path(__file__).resolve().parent.parent
BOUNDARY = "MiniVNA-large-upload"


def instance_bytes(index: int, megabytes: int, study_uid: str, series_uid: str) -> bytes:
    """One Secondary Capture instance whose pixel data makes it about `megabytes` MB."""
    side = int((megabytes * 1_000_000 / 2) ** 0.5)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = pydicom.uid.generate_uid(prefix=None)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName, ds.PatientID, ds.Modality = "Large^Upload", "LARGE-1", "OT"
    ds.InstanceNumber = index + 1
    ds.Rows = ds.Columns = side
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = (np.arange(side * side, dtype=np.uint16) + index).tobytes()
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def body(count: int, megabytes: int, sent: list[int]):
    study, series = pydicom.uid.generate_uid(prefix=None), pydicom.uid.generate_uid(prefix=None)
    for i in range(count):
        part = instance_bytes(i, megabytes, study, series)
        chunk = f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        sent[0] += len(chunk)
        yield chunk
    yield f"--{BOUNDARY}--\r\n".encode()


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=256)
    parser.add_argument("--megabytes", type=int, default=8, help="size of each instance (MB)")
    parser.add_argument("--minivna", default=str(REPO / ".build/release/minivna"))
    args = parser.parse_args()
    if not pathlib.Path(args.minivna).exists():
        print(f"minivna not found at {args.minivna}: swift build -c release --product minivna", file=sys.stderr)
        return 2

    data = tempfile.mkdtemp(prefix="minivna-large-")
    server = subprocess.Popen([args.minivna, "serve", "--port", "0", "--data", data],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        match = re.search(r"listening on (http://\S+)", line)
        if not match:
            print(f"server did not start: {line!r}", file=sys.stderr)
            return 1
        base = match.group(1) + "/dicom-web"
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kib(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sent = [0]
        start = time.perf_counter()
        response = requests.post(f"{base}/studies", data=body(args.instances, args.megabytes, sent),
                                 headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'},
                                 timeout=3600)
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        high_water = rss_kib(server.pid, "VmHWM")
        found = requests.get(f"{base}/instances", params={"PatientID": "LARGE-1", "limit": "1000"}).json()
        print(f"upload: {args.instances} instances, {sent[0] / 1e9:.2f} GB in {seconds:.1f} s "
              f"({sent[0] / 1e6 / seconds:.0f} MB/s, body generation included), HTTP {response.status_code}")
        print(f"server RSS: sampled peak {peak[0] / 1024:.0f} MiB, VmHWM {high_water / 1024:.0f} MiB "
              f"(issue 3 bound: 300 MB) -> {'PASS' if high_water * 1024 < 300e6 else 'MISS'}")
        print(f"searchable afterwards: {len(found)} of {args.instances}")
        return 0 if response.status_code == 200 and len(found) == args.instances else 1
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
