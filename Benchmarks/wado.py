#!/usr/bin/env python3
"""WADO-RS: study metadata latency, instance retrieve MB/s and frame latency, MiniVNA vs Orthanc.

The retrieve side of Benchmarks/stow_qido.py (it reuses that script's server start-up), run by
hand from the repository root after a release build (not part of CI):

    swift build -c release --product minivna
    python3 Benchmarks/wado.py [--skip-orthanc] [--minivna PATH] [--runs N]

What it does, in one run:
  1. Generates (once; cached in Benchmarks/.corpus-wado/, gitignored) with pydicom:
     a 100-instance and a 2,000-instance study (64x64 16-bit CT slices, realistic headers),
     a study of 8 multi-frame instances of 512x512x64 16-bit frames (32 MiB each, uncompressed),
     and one 512x512 CT slice.
  2. For each server, on a fresh data folder: stores everything through STOW-RS (50 per request),
     then measures over one keep-alive http.client connection:
       - GET /studies/{s}/metadata for the 100- and 2,000-instance studies (p50/p95 ms);
       - GET of each 32 MiB instance with transfer-syntax=* (MB/s: bytes / wall time, 3 rounds),
         and of the whole 256 MiB study in one request;
       - GET .../frames/1 of the 512x512 slice and .../frames/33 of a multi-frame instance with
         Accept: multipart/related; type="application/octet-stream"; transfer-syntax=* (p50/p95 ms);
       - a JPEG 2000 lossless 1024x1024 frame asked for uncompressed (decoded by the server),
         a rendered JPEG of a real 512x512 CT (pydicom-data's 693_UNCR, its own window) and of the
         synthetic noise slice (its own window, 40/400), and the thumbnails of the 100-instance study
         and of the CT's study (Orthanc's DICOMweb plugin 1.7 has no thumbnail resource: its REST
         API's 128x128 rendering of the same instance, see orthanc_thumbnail).
     Every answer is checked (status 200, expected size or instance count).
     With --interleaved: only the rendered and thumbnail figures, with all servers up at once and
     their requests alternating, including a second MiniVNA started with --render-cache-mb 0 (each
     request renders; the first MiniVNA answers repeats from its render cache). With --baseline
     PATH as well, that second MiniVNA is another build (e.g. the one before a change) with its
     defaults: an A/B of two builds under the same drift.
  3. Prints a table with ratios and the targets: study metadata >= 5x faster than Orthanc;
     instance retrieve >= 1 GB/s on loopback; rendered and thumbnail >= 2x faster than Orthanc.
     "n/a" where a server cannot answer (Orthanc without its GDCM plugin cannot decode JPEG 2000).

Exit 0 whether targets are met or not; 2 if a binary is missing; 1 on errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import stow_qido as sq  # noqa: E402  (server start-up and shutdown helpers)

CORPUS = HERE / ".corpus-wado"
VERSION = 3
UNCACHED = "MiniVNA, no render cache"
BASELINE = "MiniVNA baseline"
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
OCTETS_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def instance(study, series, number, rows, columns, frames=1, modality="CT"):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if frames == 1 else "1.2.840.10008.5.1.4.1.1.7.3"
    ds.SOPInstanceUID = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240301"
    ds.StudyTime = ds.SeriesTime = "101500"
    ds.AccessionNumber, ds.Modality, ds.Manufacturer = "WADO1", modality, "WADOBENCH"
    ds.ReferringPhysicianName, ds.StudyDescription, ds.SeriesDescription = "Ref^Doc", "BENCH STUDY", "BENCH SERIES"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Bench^Wado", "WADO-1", "19700101", "O"
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.StudyID = study, series, "1"
    ds.SeriesNumber, ds.InstanceNumber = 1, number
    ds.SliceThickness, ds.PixelSpacing = "1.0", ["0.7", "0.7"]
    ds.ImagePositionPatient = ["0", "0", str(number)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.WindowCenter, ds.WindowWidth = "-1024", "1", "40", "400"
    rng = np.random.default_rng(number)
    ds.PixelData = rng.integers(0, 4096, size=rows * columns * frames, dtype=np.uint16).tobytes()
    return ds


def ensure_corpus() -> dict:
    manifest = CORPUS / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text()).get("version") == VERSION:
        return json.loads(manifest.read_text())
    shutil.rmtree(CORPUS, ignore_errors=True)
    CORPUS.mkdir(parents=True)
    info: dict = {"version": VERSION}
    print("generating the WADO corpus ...", flush=True)
    for label, count, rows, frames in (("small", 100, 64, 1), ("large", 2000, 64, 1), ("bulk", 8, 512, 64),
                                       ("slice", 1, 512, 1)):
        study, series = generate_uid(), generate_uid()
        folder = CORPUS / label
        folder.mkdir()
        sops = []
        for n in range(count):
            ds = instance(study, series, n + 1, rows, rows, frames)
            ds.save_as(folder / f"{n:05d}.dcm", enforce_file_format=True)
            sops.append(ds.SOPInstanceUID)
        info[label] = {"study": study, "series": series, "sops": sops, "count": count}
    # A JPEG 2000 lossless instance (pydicom-data's MR2_J2KR, 1024x1024 16-bit), and a real
    # 512x512 CT slice (693_UNCR, window 40/100 in the file) for rendering: the synthetic slices
    # are uniform noise, which no scanner produces and which makes any JPEG encoder spend its time
    # on entropy coding. Each with UIDs of its own.
    for label, name in (("j2k", "MR2_J2KR.dcm"), ("ct", "693_UNCR.dcm")):
        ds = pydicom.dcmread(get_testdata_file(name))
        study, series = generate_uid(), generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        (CORPUS / label).mkdir()
        ds.save_as(CORPUS / label / "00000.dcm", enforce_file_format=True)
        info[label] = {"study": study, "series": series, "sops": [ds.SOPInstanceUID], "count": 1}
    manifest.write_text(json.dumps(info))
    return info


class Client:
    """One keep-alive connection; reads bodies into a reusable buffer."""

    def __init__(self, base: str):
        url = urllib.parse.urlsplit(base)
        self.path = url.path
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
        self.buffer = bytearray(4 << 20)

    def get(self, path: str, accept: str, keep: bool = False) -> tuple[int, int, bytes]:
        try:
            self.connection.request("GET", self.path + path, headers={"Accept": accept})
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the idle keep-alive connection (Orthanc does after a second or so):
            # reconnect, as a browser would.
            self.connection.close()
            self.connection.request("GET", self.path + path, headers={"Accept": accept})
            response = self.connection.getresponse()
        if keep or response.status != 200:
            body = response.read()
            return response.status, len(body), body
        total = 0
        view = memoryview(self.buffer)
        while True:
            n = response.readinto(view)
            if not n:
                break
            total += n
        return response.status, total, b""

    def post(self, path: str, body: bytes, content_type: str) -> int:
        self.connection.request("POST", self.path + path, body=body,
                                headers={"Content-Type": content_type, "Accept": "application/dicom+json",
                                         "Content-Length": str(len(body))})
        response = self.connection.getresponse()
        response.read()
        return response.status


def timed(runs: int, call) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def bench(server: sq.Server, corpus: dict, runs: int, imaging_only: bool = False) -> dict:
    client = Client(server.base)
    labels = ("small", "slice", "j2k", "ct") if imaging_only else ("small", "large", "bulk", "slice", "j2k", "ct")
    for label in labels:
        files = sorted((CORPUS / label).glob("*.dcm"))
        for i in range(0, len(files), 50):
            status = client.post("/studies", sq.multipart_body(files[i:i + 50]), sq.STOW_HEADERS["Content-Type"])
            if status != 200:
                raise RuntimeError(f"{server.name}: STOW of {label} answered {status}")
    out: dict = {}
    if imaging_only:
        return bench_imaging(client, server, corpus, runs, out)
    for label in ("small", "large"):
        study = corpus[label]["study"]
        status, _, body = client.get(f"/studies/{study}/metadata", "application/dicom+json", keep=True)
        if status != 200 or len(json.loads(body)) != corpus[label]["count"]:
            raise RuntimeError(f"{server.name}: metadata of the {label} study: HTTP {status}")
        n = runs if label == "small" else max(5, runs // 5)
        times = timed(n, lambda: client.get(f"/studies/{study}/metadata", "application/dicom+json"))
        out[f"metadata {corpus[label]['count']} p50"] = statistics.median(times)
        out[f"metadata {corpus[label]['count']} p95"] = p(times, 95)
    bulk = corpus["bulk"]
    sizes = {sop: (CORPUS / "bulk" / f"{i:05d}.dcm").stat().st_size for i, sop in enumerate(bulk["sops"])}
    received = 0
    t0 = time.perf_counter()
    for _ in range(3):
        for sop in bulk["sops"]:
            status, n, _ = client.get(f"/studies/{bulk['study']}/series/{bulk['series']}/instances/{sop}", DICOM_ANY)
            if status != 200 or n < sizes[sop]:
                raise RuntimeError(f"{server.name}: instance retrieve: HTTP {status}, {n} bytes")
            received += n
    out["instance retrieve MB/s"] = received / (time.perf_counter() - t0) / 1e6
    t0 = time.perf_counter()
    status, n, _ = client.get(f"/studies/{bulk['study']}", DICOM_ANY)
    if status != 200 or n < sum(sizes.values()):
        raise RuntimeError(f"{server.name}: study retrieve: HTTP {status}, {n} bytes")
    out["study retrieve MB/s"] = n / (time.perf_counter() - t0) / 1e6
    single = corpus["slice"]
    for label, path in (("frame of a 512x512 slice", f"/studies/{single['study']}/series/{single['series']}/instances/"
                                                     f"{single['sops'][0]}/frames/1"),
                        ("frame 33 of a 64-frame instance", f"/studies/{bulk['study']}/series/{bulk['series']}/instances/"
                                                            f"{bulk['sops'][0]}/frames/33")):
        status, n, _ = client.get(path, OCTETS_ANY)
        if status != 200 or n < 512 * 512 * 2:
            raise RuntimeError(f"{server.name}: {label}: HTTP {status}, {n} bytes")
        times = timed(runs, lambda: client.get(path, OCTETS_ANY))
        out[f"{label} p50"] = statistics.median(times)
        out[f"{label} p95"] = p(times, 95)
    return bench_imaging(client, server, corpus, runs, out)


def bench_imaging(client: Client, server: sq.Server, corpus: dict, runs: int, out: dict) -> dict:
    single = corpus["slice"]
    # Imaging: JPEG 2000 frames decoded to uncompressed, rendered JPEG of a 512x512 CT, a study thumbnail.
    j2k = corpus["j2k"]
    j2k_frame = f"/studies/{j2k['study']}/series/{j2k['series']}/instances/{j2k['sops'][0]}/frames/1"
    status, n, _ = client.get(j2k_frame, 'multipart/related; type="application/octet-stream"')
    if status == 200 and n >= 1024 * 1024 * 2:
        times = timed(max(10, runs // 5), lambda: client.get(j2k_frame, 'multipart/related; type="application/octet-stream"'))
        out["J2K 1024x1024 frame → uncompressed p50"] = statistics.median(times)
    else:
        out["J2K 1024x1024 frame → uncompressed p50"] = None
        print(f"  {server.name}: J2K frame transcoding answered HTTP {status}", flush=True)
    # No parameters: Orthanc's DICOMweb plugin answers 400 to window/quality; the slices carry
    # Window Center/Width 40/400, which MiniVNA then applies (so both render the same window).
    noise = f"/studies/{single['study']}/series/{single['series']}/instances/{single['sops'][0]}/rendered"
    for label, path, client_for in rendered_targets(server, client, corpus, noise):
        status, n, _ = client_for.get(path, "image/jpeg")
        if status != 200:
            out[f"{label} p50"] = None
            print(f"  {server.name}: {label} answered HTTP {status}", flush=True)
            continue
        times = timed(runs, lambda: client_for.get(path, "image/jpeg"))
        out[f"{label} p50"] = statistics.median(times)
        out[f"{label} p95"] = p(times, 95)
    return out


def rendered_targets(server: sq.Server, client: Client, corpus: dict, noise: str) -> list[tuple[str, str, Client]]:
    """(label, path, client) of each rendered measurement on one server."""
    ct = corpus["ct"]
    rendered = f"/studies/{ct['study']}/series/{ct['series']}/instances/{ct['sops'][0]}/rendered"
    targets = []
    # Thumbnails of a study of 64x64 slices (what any request costs dominates) and of the 512x512
    # CT's study (rendering dominates).
    for label, path, representative in (
            ("rendered JPEG 512x512 CT", rendered, None), ("rendered JPEG 512x512 noise", noise, None),
            ("thumbnail of the 100-instance study", f"/studies/{corpus['small']['study']}/thumbnail",
             corpus["small"]["sops"][len(corpus["small"]["sops"]) // 2]),
            ("thumbnail of the 512x512 CT study", f"/studies/{ct['study']}/thumbnail", ct["sops"][0])):
        client_for = client
        if representative and server.name == "Orthanc":
            path, client_for = orthanc_thumbnail(server, representative)
        targets.append((label, path, client_for))
    return targets


def bench_rendered_interleaved(servers: list[sq.Server], corpus: dict, runs: int) -> dict[str, dict]:
    """Both servers up at once, their requests alternating one by one: this VM's speed drifts by
    tens of percent over minutes, which sequential runs would attribute to one server."""
    clients = {}
    for server in servers:
        client = Client(server.base)
        for label in ("small", "ct", "slice"):
            files = sorted((CORPUS / label).glob("*.dcm"))
            for i in range(0, len(files), 50):
                if client.post("/studies", sq.multipart_body(files[i:i + 50]), sq.STOW_HEADERS["Content-Type"]) != 200:
                    raise RuntimeError(f"{server.name}: STOW of {label} failed")
        clients[server.name] = client
    single = corpus["slice"]
    noise = f"/studies/{single['study']}/series/{single['series']}/instances/{single['sops'][0]}/rendered"
    # The floor under every figure: a request answered 404 at once (a study that is not stored).
    floor = "floor: rendered of a study not stored (404)"
    targets = {s.name: rendered_targets(s, clients[s.name], corpus, noise) + [(floor, "/studies/1.2.3.4.5/rendered", clients[s.name])]
               for s in servers}
    results: dict[str, dict] = {s.name: {} for s in servers}
    for index in range(len(targets[servers[0].name])):
        times: dict[str, list[float]] = {s.name: [] for s in servers}
        for s in servers:
            label, path, client = targets[s.name][index]
            for _ in range(5):   # warm-up
                client.get(path, "image/jpeg")
        for _ in range(runs):
            for s in servers:
                label, path, client = targets[s.name][index]
                t0 = time.perf_counter()
                status, _, _ = client.get(path, "image/jpeg")
                expected = 404 if label == floor else 200
                times[s.name].append((time.perf_counter() - t0) * 1000 if status == expected else float("nan"))
        label = targets[servers[0].name][index][0]
        for s in servers:
            valid = [t for t in times[s.name] if t == t]
            results[s.name][f"{label} p50"] = statistics.median(valid) if valid else None
            results[s.name][f"{label} p95"] = p(valid, 95) if valid else None
    return results


def orthanc_thumbnail(server: sq.Server, sop: str) -> tuple[str, Client]:
    """Orthanc's DICOMweb plugin 1.7 has no thumbnail resource. Its own REST API renders one
    instance scaled to 128x128 (/instances/{id}/rendered?width=128&height=128): the least work a
    client can ask of Orthanc for a study thumbnail (choosing the instance, which MiniVNA does
    inside its request, is done here beforehand and not timed)."""
    root = server.base.rsplit("/dicom-web", 1)[0]
    url = urllib.parse.urlsplit(root)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    connection.request("POST", "/tools/lookup", body=sop.encode())
    orthanc_id = json.loads(connection.getresponse().read())[0]["ID"]
    connection.close()
    return f"/instances/{orthanc_id}/rendered?width=128&height=128", Client(root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-orthanc", action="store_true")
    parser.add_argument("--minivna", default=str(sq.REPO / ".build" / "release" / "minivna"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--imaging-only", action="store_true",
                        help="store and measure only what the imaging figures need (J2K frame, rendered, thumbnail)")
    parser.add_argument("--interleaved", action="store_true",
                        help="rendered and thumbnail only: the servers up at once (MiniVNA, MiniVNA without its render "
                             "cache, Orthanc), requests alternating")
    parser.add_argument("--baseline", default=None,
                        help="with --interleaved: the second MiniVNA is this binary (defaults on), not the uncached one")
    args = parser.parse_args()
    binary = Path(args.minivna)
    if not binary.exists():
        print(f"MiniVNA binary not found: {binary}", file=sys.stderr)
        return 2
    corpus = ensure_corpus()
    results: dict[str, dict] = {}
    root = Path(tempfile.mkdtemp(prefix="wado-bench-"))
    try:
        if args.interleaved:
            # A second MiniVNA with its render cache off: every request renders (the cold figure).
            second = (sq.start_minivna(Path(args.baseline), root / "minivna-baseline", root / "MiniVNA-baseline.log",
                                       (), BASELINE) if args.baseline else
                      sq.start_minivna(binary, root / "minivna-uncached", root / "MiniVNA-uncached.log",
                                       ("--render-cache-mb", "0"), UNCACHED))
            servers = [sq.start_minivna(binary, root / "minivna", root / "MiniVNA.log"), second]
            if not args.skip_orthanc:
                servers.append(sq.start_orthanc(root / "orthanc", root / "Orthanc.log"))
            try:
                results = bench_rendered_interleaved(servers, corpus, args.runs)
            finally:
                for server in servers:
                    server.stop()
        for kind in ([] if args.interleaved else ["MiniVNA"] + ([] if args.skip_orthanc else ["Orthanc"])):
            data = root / kind.lower()
            data.mkdir()
            server = (sq.start_minivna(binary, data, root / f"{kind}.log") if kind == "MiniVNA"
                      else sq.start_orthanc(data, root / f"{kind}.log"))
            print(f"{kind}: {server.base}", flush=True)
            try:
                results[kind] = bench(server, corpus, args.runs, args.imaging_only)
            finally:
                server.stop()
    finally:
        sq.cleanup_children()
        shutil.rmtree(root, ignore_errors=True)
    mini, orth = results["MiniVNA"], results.get("Orthanc", {})
    uncached = results.get(UNCACHED) or results.get(BASELINE, {})
    print(f"\n{'metric':40} {'MiniVNA':>10} {'Orthanc':>10} {'ratio':>7}  target" + (
        f"      {'baseline' if BASELINE in results else 'no cache':>10} {'ratio':>7}" if uncached else ""))
    for key, value in mini.items():
        other = orth.get(key)
        if value is None:
            print(f"{key:40} {'n/a':>10}")
            continue
        faster_is_higher = "MB/s" in key
        ratio = (value / other if faster_is_higher else other / value) if other else None
        target = ""
        if key.startswith("metadata") and key.endswith("p50") and ratio is not None:
            target = f">=5x {'PASS' if ratio >= 5 else 'MISS'}"
        if key == "instance retrieve MB/s":
            target = f">=1000 MB/s {'PASS' if value >= 1000 else 'MISS'}"
        if (key.startswith("rendered") or key.startswith("thumbnail")) and key.endswith("p50") and ratio is not None:
            target = f">=2x {'PASS' if ratio >= 2 else 'MISS'}"
        line = (f"{key:40} {value:10.2f} {other if other is not None else float('nan'):10.2f} "
                f"{ratio if ratio is not None else float('nan'):7.2f}  {target}")
        if uncached.get(key) is not None:
            cold = uncached[key]
            line = f"{line:76} {cold:10.2f} {(other / cold) if other else float('nan'):7.2f}"
        print(line)
    print("ratio > 1 = MiniVNA better (time: Orthanc/MiniVNA; MB/s: MiniVNA/Orthanc)")
    if BASELINE in results:
        print(f"'baseline' is a second MiniVNA, {args.baseline}, up at the same time; its ratio is Orthanc/baseline.")
    elif uncached:
        print("MiniVNA answers repeated renderings from its render cache (--render-cache-mb, default 32); "
              "'no cache' is a second MiniVNA started with --render-cache-mb 0, so every request renders.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sq.cleanup_children()
        sys.exit(130)
