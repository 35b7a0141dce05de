"""A multi-GB study retrieved through WADO-RS with the server's memory sampled throughout.

The study (3 instances of 720 MB) is written straight to disk by a small streaming writer and
stored with `minivna import` (which copies block by block); the retrieve is read and discarded
as it arrives, while /proc/<pid>/status is sampled."""
import io
import os
import struct
import subprocess
import threading
import time

import pydicom
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

FRAME_SIDE = 1024                      # 1024 x 1024 x 16-bit = 2 MiB per frame
FRAMES = 360                           # 720 MiB per instance
INSTANCES = 3
RSS_LIMIT_MB = 300


def write_large_instance(path, study, series, number):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"   # Multi-frame Grayscale Word SC
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.Modality = "Large^Study", "LARGE1", "OT"
    ds.InstanceNumber, ds.SeriesNumber = number, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = FRAME_SIDE
    ds.NumberOfFrames = FRAMES
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    header = io.BytesIO()
    pydicom.dcmwrite(header, ds, enforce_file_format=True)
    length = FRAME_SIDE * FRAME_SIDE * 2 * FRAMES
    block = bytes(range(256)) * (8 << 10)   # 2 MiB
    with open(path, "wb") as f:
        f.write(header.getvalue())
        f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length))
        for _ in range(length // len(block)):
            f.write(block)
    return os.path.getsize(path)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def sample_rss(pid):
    """Samples the process's VmRSS every 50 ms into a list until the returned stop() is called."""
    peak = [rss_mb(pid)]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak.append(rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    def stop():
        done.set()
        sampler.join()

    return peak, stop


def test_multi_gb_study_streams_with_bounded_memory(start_server, minivna_bin, tmp_path):
    study, series = generate_uid(), generate_uid()
    source = tmp_path / "source"
    source.mkdir()
    sizes = [write_large_instance(source / f"large{i}.dcm", study, series, i + 1) for i in range(INSTANCES)]
    data = tmp_path / "data"
    out = subprocess.run([str(minivna_bin), "import", "--data", str(data), str(source)], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0 and f"imported {INSTANCES}" in out.stdout, (out.stdout, out.stderr)
    for f in source.iterdir():
        f.unlink()

    server = start_server(data_dir=str(data))
    peak, stop_sampling = sample_rss(server.proc.pid)
    received = 0
    first_byte_at = None
    started = time.perf_counter()
    with requests.get(f"{server.base}/studies/{study}", stream=True, timeout=600,
                      headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'}) as r:
        assert r.status_code == 200
        for chunk in r.iter_content(chunk_size=1 << 20):
            if first_byte_at is None:
                first_byte_at = time.perf_counter() - started
            received += len(chunk)
    stop_sampling()
    total = sum(sizes)
    assert received > total, (received, total)                  # every file plus part headers
    assert received - total < 4096 * INSTANCES, (received, total)
    assert max(peak) < RSS_LIMIT_MB, f"peak RSS {max(peak):.0f} MB while streaming {total / 2**30:.1f} GiB"
    print(f"streamed {total / 2**30:.2f} GiB, peak RSS {max(peak):.0f} MB, first byte after {first_byte_at:.3f} s")


def test_large_instance_is_transcoded_frame_by_frame_with_bounded_memory(start_server, minivna_bin, tmp_path):
    """A 256 MiB native instance asked for as RLE Lossless: encoded while it is sent, so the
    server never holds the instance (old behaviour: all of it, plus the compressed copy)."""
    global FRAMES
    study, series = generate_uid(), generate_uid()
    source = tmp_path / "source"
    source.mkdir()
    saved, FRAMES = FRAMES, 128
    try:
        size = write_large_instance(source / "big.dcm", study, series, 1)
    finally:
        FRAMES = saved
    sop = pydicom.dcmread(source / "big.dcm", stop_before_pixels=True).SOPInstanceUID
    data = tmp_path / "data"
    out = subprocess.run([str(minivna_bin), "import", "--data", str(data), str(source)], capture_output=True, text=True,
                         timeout=900)
    assert out.returncode == 0, (out.stdout, out.stderr)
    (source / "big.dcm").unlink()
    server = start_server(data_dir=str(data))
    peak, stop_sampling = sample_rss(server.proc.pid)
    target = tmp_path / "rle.part"
    with requests.get(f"{server.base}/studies/{study}/series/{series}/instances/{sop}", stream=True, timeout=600,
                      headers={"Accept": "application/dicom; transfer-syntax=1.2.840.10008.1.2.5"}) as r:
        assert r.status_code == 200, r.text[:300]
        with open(target, "wb") as f:
            for chunk in r.iter_content(chunk_size=1 << 20):
                f.write(chunk)
    stop_sampling()
    got = pydicom.dcmread(target, defer_size=1024)
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5" and got.NumberOfFrames == 128
    from pydicom.encaps import generate_frames
    frames = list(generate_frames(got.PixelData, number_of_frames=128))
    assert len(frames) == 128
    assert max(peak) < 200, f"peak RSS {max(peak):.0f} MB while transcoding a {size / 2**20:.0f} MiB instance"
    print(f"transcoded {size / 2**20:.0f} MiB to {target.stat().st_size / 2**20:.0f} MiB RLE, peak RSS {max(peak):.0f} MB")
