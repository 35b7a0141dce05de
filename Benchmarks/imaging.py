#!/usr/bin/env python3
"""Imaging: JPEG 2000 decode speed against OpenJPEG's own opj_decompress, and server memory over
10,000 transcoded frames.

Run by hand from the repository root after a release build (not part of CI):

    swift build -c release --product minivna
    python3 Benchmarks/imaging.py [--minivna PATH] [--frames 10000]

What it does:
  1. Starts `minivna serve` on a fresh data folder and stores pydicom-data's MR2_J2KR
     (1024x1024, 16-bit, JPEG 2000 lossless) and pydicom's emri_small_jpeg_2k_lossless
     (10 frames of 64x64) through STOW-RS.
  2. Decode speed: GET .../frames/1 of MR2 with Accept multipart/related;
     type="application/octet-stream" (the server decodes with OpenJPEG, 2 threads) --runs times
     over one keep-alive connection; MB/s of decoded samples (2 MiB per frame). The same
     codestream is decoded by `opj_decompress -threads 2` to a raw file the same number of times
     (the physical reference: OpenJPEG's own tool, process start-up included, as is HTTP for
     MiniVNA). Ratio = MiniVNA / opj_decompress; the target is within 10% (ratio >= 0.9).
  3. Memory: --frames frame decodes of the 64x64 instance (all ten frames per request), with
     the server's VmRSS sampled before, after a tenth, and at the end; growth after the first
     tenth is what a leak would show.

This is a benchmark, not a test: exit 0 whether targets are met or not; 2 if a tool is missing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

ROOT = Path(__file__).resolve().parent.parent
OCTETS = 'multipart/related; type="application/octet-stream"'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minivna", default=str(ROOT / ".build" / "release" / "minivna"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--frames", type=int, default=10_000)
    args = parser.parse_args()
    opj = shutil.which("opj_decompress")
    if not Path(args.minivna).exists() or opj is None:
        print("needs the release binary and opj_decompress (apt-get install libopenjp2-tools)", file=sys.stderr)
        return 2
    big, small = Path(get_testdata_file("MR2_J2KR.dcm")), Path(get_testdata_file("emri_small_jpeg_2k_lossless.dcm"))
    work = Path(tempfile.mkdtemp(prefix="imaging-bench-"))
    server = subprocess.Popen([args.minivna, "serve", "--port", "0", "--data", str(work / "data")],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        match = re.search(r"listening on http://([^:]+):(\d+)", server.stdout.readline())
        connection = http.client.HTTPConnection(match.group(1), int(match.group(2)), timeout=120)
        boundary = "imagingbench"
        body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p.read_bytes() + b"\r\n"
                        for p in (big, small)) + b"--" + boundary.encode() + b"--\r\n"
        connection.request("POST", "/dicom-web/studies", body=body,
                           headers={"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
        answer = json.loads(connection.getresponse().read())
        urls = [item["00081190"]["Value"][0].split("/dicom-web")[1] for item in answer["00081199"]["Value"]]

        def get(path: str) -> int:
            connection.request("GET", "/dicom-web" + path, headers={"Accept": OCTETS})
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: HTTP {response.status}: {data[:200]!r}")
            return len(data)

        big_frame = urls[0] + "/frames/1"
        get(big_frame)
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            get(big_frame)
            times.append(time.perf_counter() - t0)
        ours = 1024 * 1024 * 2 / statistics.median(times) / 1e6

        codestream = next(generate_frames(pydicom.dcmread(big).PixelData, number_of_frames=1))
        (work / "f.j2k").write_bytes(codestream)
        reference = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run([opj, "-i", str(work / "f.j2k"), "-o", str(work / "f.raw"), "-threads", "2"],
                           check=True, capture_output=True)
            reference.append(time.perf_counter() - t0)
        theirs = 1024 * 1024 * 2 / statistics.median(reference) / 1e6

        small_frames = urls[1] + "/frames/" + ",".join(str(i) for i in range(1, 11))
        pid = server.pid
        before = rss_mb(pid)
        tenth = None
        decoded = 0
        t0 = time.perf_counter()
        while decoded < args.frames:
            get(small_frames)
            decoded += 10
            if tenth is None and decoded >= args.frames // 10:
                tenth = rss_mb(pid)
        elapsed = time.perf_counter() - t0
        after = rss_mb(pid)

        print(f"\nJPEG 2000 lossless decode, 1024x1024 16-bit (MR2_J2KR), median of {args.runs}:")
        print(f"  MiniVNA (HTTP frame, decoded by the server)  {statistics.median(times) * 1000:7.1f} ms  {ours:7.1f} MB/s")
        print(f"  opj_decompress -threads 2 (process, to .raw) {statistics.median(reference) * 1000:7.1f} ms  {theirs:7.1f} MB/s")
        print(f"  ratio {ours / theirs:.2f}  target >= 0.90 {'PASS' if ours / theirs >= 0.9 else 'MISS'}")
        print(f"\nmemory over {decoded:,} transcoded 64x64 frames ({elapsed:.1f} s): VmRSS before {before:.1f} MB, "
              f"after a tenth {tenth:.1f} MB, at the end {after:.1f} MB (growth after the first tenth {after - tenth:+.1f} MB)")
        return 0
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
