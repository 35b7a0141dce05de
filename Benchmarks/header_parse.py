#!/usr/bin/env python3
"""Header-parsing benchmark: MiniVNA vs pydicom on the same files.

Run from the repository root after a release build:

    swift build -c release
    python3 Benchmarks/header_parse.py [--minivna PATH] [--corpus-size 1000]
                                       [--skip-generate] [--repeat 3] [--verbose]

Corpora
  A  every file under pydicom's data/test_files and data/charset_files and
     pydicom-data's data_store/data (real-world oddities; some are not DICOM
     at all, and both tools are expected to count those as failures).
  B  N synthetic CT-like files (~100 attributes, a few sequences, a private
     block, 512x512 16-bit pixel data) generated into Benchmarks/.corpus/
     (gitignored). The large pixel data is there so that a header-only parse
     has to skip it rather than read it. The corpus is reused while its
     stamp file matches --corpus-size and the generator version.

Each tool parses each corpus --repeat times (default 3) in one process; the best pass counts.
  MiniVNA:  `minivna scan --header-only --json PATH...`, which prints one JSON
            object {"files", "bytes", "seconds", "failures"}; "seconds" is the
            tool's own parse time, so process start-up is not counted.
  pydicom:  in-process `dcmread(path, stop_before_pixels=True)` per file,
            timed with time.perf_counter. Note that pydicom defers value
            conversion until an element is accessed, so this measures its
            element scanning, not value decoding.

MB/s is file bytes / 1e6 / seconds (whole file sizes, pixel data included).
The target is MiniVNA >= 20x pydicom's files/s on each corpus (PASS/MISS).
This is a benchmark, not a test: it exits 0 whether the target is met or
not; 2 if the MiniVNA binary is missing, 1 on other errors.

Needs: Python 3, pydicom 3.x, numpy, pydicom-data (for corpus A).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

REPO = Path(__file__).resolve().parent.parent
CORPUS_B_ROOT = REPO / "Benchmarks" / ".corpus"
CORPUS_B_FILES = CORPUS_B_ROOT / "ct"          # only DICOM files live here
CORPUS_B_STAMP = CORPUS_B_ROOT / "corpus.json"  # kept outside the scanned dir
GENERATOR_VERSION = 2                           # bump when the corpus changes
TARGET_SPEEDUP = 20.0

UID_BASE = 271828182845904523536028747135266249775  # 2.25.<base + n>, < 2**128


@dataclass
class Result:
    corpus: str
    tool: str
    files: int
    bytes: int
    seconds: float
    failures: int

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else float("inf")

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


# ---------------------------------------------------------------------------
# Corpus A
# ---------------------------------------------------------------------------


def corpus_a_roots() -> list[Path]:
    pydicom_data = Path(pydicom.data.__file__).resolve().parent
    roots = [pydicom_data / "test_files", pydicom_data / "charset_files"]
    try:
        import data_store  # installed by the pip package `pydicom-data`
    except ImportError:
        sys.exit("corpus A needs the pydicom-data package (`pip install pydicom-data`)")
    roots.append(Path(data_store.__file__).resolve().parent / "data")
    for root in roots:
        if not root.is_dir():
            sys.exit(f"corpus A folder missing: {root}")
    return roots


def corpus_a_files(verbose: bool) -> list[Path]:
    files: list[Path] = []
    skipped: list[Path] = []
    for root in corpus_a_roots():
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            # Byte-compiled Python is the only thing left out; it is not part
            # of the data sets, just a by-product of importing the packages.
            if "__pycache__" in path.parts or path.suffix in (".py", ".pyc"):
                skipped.append(path)
                continue
            files.append(path)
    if skipped:
        print(f"corpus A: left out {len(skipped)} Python file(s)"
              + (": " + ", ".join(map(str, skipped)) if verbose else ""))
    return files


# ---------------------------------------------------------------------------
# Corpus B (synthetic CT)
# ---------------------------------------------------------------------------


def uid(n: int) -> str:
    return f"2.25.{UID_BASE + n}"


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def ct_template() -> Dataset:
    """A CT header shaped like a modern scanner's output: ~100 top-level
    attributes, several sequences and a private block. Per-file values are
    filled in by `vary`."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = "20240115"
    ds.InstanceCreationTime = "101500"
    ds.SOPClassUID = CTImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = "20240115"
    ds.StudyTime = "101000"
    ds.SeriesTime = "101200"
    ds.Modality = "CT"
    ds.Manufacturer = "MiniVNA Bench Systems"
    ds.InstitutionName = "Bench General Hospital"
    ds.InstitutionAddress = "1 Benchmark Road, Testville"
    ds.ReferringPhysicianName = "Referrer^Rita^^Dr."
    ds.StationName = "CTBENCH01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS W CONTRAST"
    ds.ProcedureCodeSequence = Sequence([code_item("CTCAP", "99MVNA", "CT Chest/Abd/Pelvis")])
    ds.SeriesDescription = "Body 1.0 CE"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.PerformingPhysicianName = "Performer^Paul"
    ds.OperatorsName = "Tech^Tina"
    ds.ManufacturerModelName = "BenchScanner 128"
    ds.PatientAge = "054Y"
    ds.PatientSize = "1.78"
    ds.PatientWeight = "82"
    ds.IssuerOfPatientID = "BENCH"
    ds.PatientSex = "M"
    ds.ContrastBolusAgent = "IOPAMIDOL 370"
    ds.BodyPartExamined = "CHEST"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.DeviceSerialNumber = "SN-000123"
    ds.SoftwareVersions = ["VB20A", "BENCH-1.2.3"]
    ds.ProtocolName = "CAP_CONTRAST_STD"
    ds.ReconstructionDiameter = "380"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "152"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "210"
    ds.Exposure = "105"
    ds.FilterType = "FLAT"
    ds.GeneratorPower = "25"
    ds.FocalSpots = "1.2"
    ds.ConvolutionKernel = ["B30f", "SOFT"]
    ds.PatientPosition = "FFS"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.TableSpeed = 46.0
    ds.TableFeedPerRotation = 23.0
    ds.SpiralPitchFactor = 0.6
    ds.CTDIvol = 9.87
    phantom = code_item("113691", "DCM", "IEC Body Dosimetry Phantom")
    ds.CTDIPhantomTypeCodeSequence = Sequence([phantom])
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.AcquisitionNumber = 2
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PositionReferenceIndicator = "SN"
    ds.ImageComments = "synthetic benchmark slice"
    request = Dataset()
    request.RequestedProcedureID = "RP-0001"
    request.ScheduledProcedureStepID = "SPS-0001"
    request.ScheduledProcedureStepDescription = "CT CAP W"
    request.ScheduledProtocolCodeSequence = Sequence([code_item("P-CAP-01", "99MVNA", "CT CAP protocol")])
    ds.RequestAttributesSequence = Sequence([request])
    ds.PerformedProcedureStepStartDate = "20240115"
    ds.PerformedProcedureStepStartTime = "100500"
    ds.PerformedProcedureStepID = "PPS-0001"
    ds.PerformedProcedureStepDescription = "CT CAP W"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 512
    ds.PixelSpacing = ["0.742188", "0.742188"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelPaddingValue = 0
    ds.SmallestImagePixelValue = 0
    ds.LargestImagePixelValue = 4095
    ds.WindowCenter = ["40", "400"]
    ds.WindowWidth = ["400", "1500"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenterWidthExplanation = ["WINDOW1", "WINDOW2"]
    ds.LossyImageCompression = "00"
    # Private block, as every vendor writes one; a parser must skip it.
    block = ds.private_block(0x0019, "MINIVNA BENCH", create=True)
    block.add_new(0x10, "LO", "bench private text")
    block.add_new(0x11, "DS", "12.5")
    block.add_new(0x12, "OB", bytes(range(256)) * 4)
    block.add_new(0x13, "SH", "BENCH")
    return ds


def vary(ds: Dataset, i: int, pixel_bytes: bytes) -> None:
    """Per-file values: 10 patients/studies, 2 series each, unique instances."""
    study, series, instance = i // 100, i // 50, i % 50
    ds.SOPInstanceUID = uid(1_000_000 + i)
    ds.StudyInstanceUID = uid(10_000 + study)
    ds.SeriesInstanceUID = uid(20_000 + series)
    ds.FrameOfReferenceUID = uid(30_000 + study)
    ds.AccessionNumber = f"BENCH{study:06d}"
    ds.PatientName = f"Bench^Patient{study:03d}"
    ds.PatientID = f"BENCH-{study:05d}"
    ds.PatientBirthDate = f"19{50 + study % 40:02d}0{1 + study % 9}15"
    ds.InstanceNumber = instance + 1
    z = -400.0 + instance * 1.0
    ds.ImagePositionPatient = ["-189.6", "-189.6", f"{z:.1f}"]
    ds.SliceLocation = f"{z:.1f}"
    ds.AcquisitionTime = ds.ContentTime = f"1015{instance % 60:02d}"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CTImageStorage
    ref.ReferencedSOPInstanceUID = uid(2_000_000 + series)  # the localizer
    ds.ReferencedImageSequence = Sequence([ref])
    ds.PixelData = pixel_bytes
    ds["PixelData"].VR = "OW"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid(1)
    meta.ImplementationVersionName = "MINIVNA_BENCH"
    ds.file_meta = meta


def corpus_b_ready(size: int) -> bool:
    try:
        stamp = json.loads(CORPUS_B_STAMP.read_text())
    except (OSError, ValueError):
        return False
    return (stamp == {"version": GENERATOR_VERSION, "size": size}
            and len(list(CORPUS_B_FILES.glob("*.dcm"))) == size)


def generate_corpus_b(size: int) -> None:
    print(f"corpus B: generating {size} files into {CORPUS_B_FILES} ...", flush=True)
    start = time.perf_counter()
    # Stamp last: an interrupted run leaves no stamp and is redone next time.
    shutil.rmtree(CORPUS_B_ROOT, ignore_errors=True)
    CORPUS_B_FILES.mkdir(parents=True)
    rng = np.random.default_rng(7)
    ds = ct_template()
    # A few distinct pixel buffers are plenty: the content does not matter to
    # a header parser, only that ~512 KB of it must be skipped.
    buffers = [rng.integers(0, 4096, size=(512, 512), dtype=np.uint16).astype("<u2").tobytes()
               for _ in range(4)]
    for i in range(size):
        vary(ds, i, buffers[i % len(buffers)])
        ds.save_as(CORPUS_B_FILES / f"ct_{i:06d}.dcm", enforce_file_format=True)
    CORPUS_B_STAMP.write_text(json.dumps({"version": GENERATOR_VERSION, "size": size}) + "\n")
    print(f"corpus B: generated in {time.perf_counter() - start:.1f} s")


def corpus_b_files(size: int, skip_generate: bool) -> list[Path]:
    if skip_generate:
        files = sorted(CORPUS_B_FILES.glob("*.dcm"))
        if not files:
            sys.exit(f"--skip-generate: no corpus in {CORPUS_B_FILES}; run once without it")
        if len(files) != size:
            print(f"corpus B: using the existing {len(files)} files (--corpus-size ignored)")
        return files
    if corpus_b_ready(size):
        print(f"corpus B: reusing {size} files in {CORPUS_B_FILES}")
    else:
        generate_corpus_b(size)
    return sorted(CORPUS_B_FILES.glob("*.dcm"))


# ---------------------------------------------------------------------------
# The two tools
# ---------------------------------------------------------------------------


def run_pydicom(corpus: str, files: list[Path], repeat: int, verbose: bool) -> Result:
    total_bytes = sum(p.stat().st_size for p in files)
    best = None
    failed: dict[Path, str] = {}
    for _ in range(repeat):
        failures = 0
        failed.clear()
        with warnings.catch_warnings():
            # pydicom warns on many test files; printing that would be timed too.
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            for path in files:
                try:
                    pydicom.dcmread(path, stop_before_pixels=True)
                except Exception as exc:  # any failure to parse counts, none is hidden
                    failures += 1
                    failed[path] = type(exc).__name__
            seconds = time.perf_counter() - start
        if best is None or seconds < best.seconds:
            best = Result(corpus, "pydicom", len(files), total_bytes, seconds, failures)
    if verbose and failed:
        print(f"pydicom failures on corpus {corpus}:")
        for path, kind in failed.items():
            print(f"  {kind}: {path}")
    return best


def parse_minivna_output(stdout: str) -> dict:
    # The contract is one JSON object on stdout; scan from the end so that a
    # stray log line before it does not break the benchmark.
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if all(k in obj for k in ("files", "bytes", "seconds", "failures")):
                return obj
    try:
        return json.loads(stdout)  # pretty-printed (multi-line) object
    except ValueError:
        raise ValueError("no JSON object with files/bytes/seconds/failures on stdout")


def run_minivna(binary: Path, corpus: str, paths: list[Path], expected_files: int,
                repeat: int) -> Result:
    # Best of `repeat` passes inside one process, as for pydicom (steady state for both).
    cmd = [str(binary), "scan", "--header-only", "--json", "--repeat", str(repeat), *map(str, paths)]
    best = None
    for _ in range(1):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        try:
            obj = parse_minivna_output(proc.stdout)
        except ValueError as exc:
            sys.stderr.write(f"minivna scan failed on corpus {corpus} (exit {proc.returncode}): "
                             f"{exc}\n--- stdout ---\n{proc.stdout[-2000:]}\n"
                             f"--- stderr ---\n{proc.stderr[-2000:]}\n")
            sys.exit(1)
        result = Result(corpus, "minivna", int(obj["files"]), int(obj["bytes"]),
                        float(obj["seconds"]), int(obj["failures"]))
        if best is None or result.seconds < best.seconds:
            best = result
    if proc.returncode != 0:
        print(f"note: minivna exited {proc.returncode} on corpus {corpus} (JSON still used)")
    if best.files != expected_files:
        print(f"WARNING: minivna scanned {best.files} files on corpus {corpus}, "
              f"pydicom {expected_files}: the comparison is not like for like")
    return best


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def print_table(results: list[Result]) -> None:
    header = f"{'corpus':<7}{'tool':<9}{'files':>7}{'best s':>10}{'files/s':>12}{'MB/s':>10}{'failures':>10}"
    print()
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.corpus:<7}{r.tool:<9}{r.files:>7}{r.seconds:>10.3f}"
              f"{r.files_per_s:>12.0f}{r.mb_per_s:>10.1f}{r.failures:>10}")


def print_speedups(pairs: list[tuple[Result, Result]]) -> None:
    print()
    print(f"Target: MiniVNA at least {TARGET_SPEEDUP:.0f}x pydicom (files/s) on each corpus")
    for mini, py in pairs:
        speedup = mini.files_per_s / py.files_per_s
        verdict = "PASS" if speedup >= TARGET_SPEEDUP else "MISS"
        note = ""
        if mini.failures != py.failures:
            note = f"  (failures differ: minivna {mini.failures}, pydicom {py.failures})"
        print(f"  corpus {mini.corpus}: {speedup:8.1f}x  {verdict}{note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minivna", type=Path, default=REPO / ".build" / "release" / "minivna",
                        help="MiniVNA binary (default: %(default)s)")
    parser.add_argument("--corpus-size", type=int, default=1000,
                        help="number of synthetic files in corpus B (default: %(default)s)")
    parser.add_argument("--skip-generate", action="store_true",
                        help="use corpus B as it is on disk, never (re)generate it")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per tool and corpus, best counts (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true",
                        help="list the files pydicom fails on")
    args = parser.parse_args()
    if args.corpus_size < 1 or args.repeat < 1:
        parser.error("--corpus-size and --repeat must be at least 1")

    binary = args.minivna.resolve()
    if not (binary.is_file() and binary.stat().st_mode & 0o111):
        print(f"MiniVNA binary not found or not executable: {binary}\n"
              "Build it with `swift build -c release`, or pass --minivna PATH.",
              file=sys.stderr)
        return 2

    print(f"pydicom {pydicom.__version__}, Python {sys.version.split()[0]}, "
          f"minivna {binary}, best of {args.repeat}")
    files_a = corpus_a_files(args.verbose)
    files_b = corpus_b_files(args.corpus_size, args.skip_generate)

    results: list[Result] = []
    pairs: list[tuple[Result, Result]] = []
    # Corpus A spans three package folders, so pass the exact file list; for
    # corpus B the folder holds exactly the corpus, so pass the folder and
    # let minivna do its own recursive walk.
    for name, files, paths in (("A", files_a, files_a), ("B", files_b, [CORPUS_B_FILES])):
        print(f"corpus {name}: {len(files)} files, "
              f"{sum(p.stat().st_size for p in files) / 1e6:.1f} MB", flush=True)
        mini = run_minivna(binary, name, paths, len(files), args.repeat)
        py = run_pydicom(name, files, args.repeat, args.verbose)
        results += [mini, py]
        pairs.append((mini, py))

    print_table(results)
    print_speedups(pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
