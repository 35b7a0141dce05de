#!/usr/bin/env python3
"""Generate MiniVNA's DICOM test fixtures.

Run from anywhere:

    python3 Fixtures/generate.py

It rewrites every generated sub-folder of Fixtures/ (ct, mr, multiframe,
jpeg2000, charsets, malformed, deflated, bigendian) and Fixtures/README.md.
The output is byte-for-byte deterministic: fixed UIDs under the 2.25 root,
fixed dates and times, a seeded numpy RNG, and the implementation UID/version
in the file meta pinned so that pydicom's own defaults never leak in.

Needs: Python 3, pydicom 3.x, numpy, and OpenJPEG's command line tools
(`opj_compress`, `opj_decompress`; Debian package libopenjp2-tools) for the
JPEG 2000 fixture. If dcmtk's `dcmconv` is on PATH it is used as an
independent cross-check of the big-endian fixture; it is not required.

Every well-formed file is read back with pydicom and compared with what was
meant to be written (pixels, strings); a mismatch aborts with an error, so a
successful run is also the fixtures' own test.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_fragmented_frames
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
)

HERE = Path(__file__).resolve().parent

# Sub-folders owned by this script; they are wiped before regeneration so that
# a renamed or dropped fixture never lingers.
OWNED_DIRS = ("ct", "mr", "multiframe", "jpeg2000", "charsets", "malformed",
              "deflated", "bigendian")

# ---------------------------------------------------------------------------
# UIDs, dates, identities
# ---------------------------------------------------------------------------

# 2.25.<integer> UIDs (PS3.5 B.2) must stay below 2**128. The base is a fixed
# 39-digit number; every fixture UID is base + a small offset, so all UIDs are
# stable, unique within the fixture set, and at most 44 characters long.
UID_BASE = 314159265358979323846264338327950288419
assert UID_BASE + 10**6 < 2**128


def uid(n: int) -> str:
    return f"2.25.{UID_BASE + n}"


IMPLEMENTATION_CLASS_UID = uid(1)
IMPLEMENTATION_VERSION = "MINIVNA_FIX_1"  # SH in file meta, max 16 chars

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE = "1.2.840.10008.5.1.4.1.1.7"
SC_MF_GRAY_BYTE = "1.2.840.10008.5.1.4.1.1.7.2"

STUDY_DATE = "20240115"

RNG_SEED = 20240115


@dataclass(frozen=True)
class Patient:
    name: str
    id: str
    birth_date: str
    sex: str


CT_PATIENT = Patient("Doe^John", "MVNA-001", "19700301", "M")
MR_PATIENT = Patient("Roe^Jane", "MVNA-002", "19820711", "F")
CODEC_PATIENT = Patient("Codec^Test", "MVNA-003", "19900101", "O")
MF_PATIENT = Patient("Frames^Multi", "MVNA-004", "19850505", "O")

# UID offsets, grouped per fixture so they are easy to recognise in dumps.
CT_STUDY, CT_SERIES, CT_FOR = uid(1000), uid(1001), uid(1002)
CT_INSTANCE0 = 1100                       # + slice index (0..4)
DEFLATED_SERIES, DEFLATED_INSTANCE = uid(1201), uid(1202)
BIGENDIAN_SERIES, BIGENDIAN_INSTANCE = uid(1301), uid(1302)
MR_STUDY, MR_SERIES, MR_FOR, MR_INSTANCE = uid(2000), uid(2001), uid(2002), uid(2003)
MF_STUDY, MF_SERIES, MF_INSTANCE = uid(3000), uid(3001), uid(3002)
J2K_STUDY, J2K_SERIES = uid(4000), uid(4001)
J2K_INSTANCE, J2K_TWIN_INSTANCE = uid(4002), uid(4003)
CHARSET_UID0 = 5000                       # + 10 * charset index + {0,1,2}
MALFORMED_UID0 = 6000

# ---------------------------------------------------------------------------
# Bookkeeping for README.md
# ---------------------------------------------------------------------------

MANIFEST: list[tuple[str, str]] = []


def record(path: Path, description: str) -> None:
    MANIFEST.append((path.relative_to(HERE).as_posix(), description))


def fail(message: str) -> None:
    raise SystemExit(f"generate.py: {message}")


def check(condition: bool, message: str) -> None:
    # Used instead of `assert` so the checks survive `python3 -O`.
    if not condition:
        fail(f"self-check failed: {message}")


# ---------------------------------------------------------------------------
# Common dataset building
# ---------------------------------------------------------------------------


def base_dataset(*, sop_class: str, sop_instance: str, patient: Patient,
                 study_uid: str, series_uid: str, modality: str,
                 study_description: str, series_description: str,
                 series_number: int, instance_number: int,
                 accession: str, study_id: str) -> Dataset:
    """Patient, General Study, General Series, General Equipment, General
    Image and SOP Common attributes shared by every well-formed fixture."""
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = STUDY_DATE
    ds.InstanceCreationTime = "093000"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.ContentDate = STUDY_DATE
    ds.StudyTime = "093000"
    ds.SeriesTime = "093100"
    ds.ContentTime = "093200"
    ds.AccessionNumber = accession
    ds.Modality = modality
    ds.Manufacturer = "MiniVNA Fixtures"
    ds.InstitutionName = "MiniVNA Test Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.StudyDescription = study_description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = "generate.py"
    ds.PatientName = patient.name
    ds.PatientID = patient.id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    return ds


def set_gray_pixels(ds: Dataset, pixels: np.ndarray, *, bits_stored: int,
                    byteorder: str = "<") -> None:
    """Image Pixel module for a single-sample grayscale array (2D or 3D for
    multi-frame). `byteorder` is only for the big-endian fixture: pydicom
    writes OW Pixel Data bytes verbatim, so the swap has to happen here."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    kind = "i" if pixels.dtype.kind == "i" else "u"
    ds.PixelData = pixels.astype(f"{byteorder}{kind}{pixels.dtype.itemsize}").tobytes()
    ds["PixelData"].VR = "OB" if ds.BitsAllocated == 8 else "OW"


def write(ds: Dataset, path: Path, transfer_syntax: str, description: str) -> Path:
    """Write `ds` as a Part 10 file with a fully pinned file meta group."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    ds.file_meta = meta
    path.parent.mkdir(parents=True, exist_ok=True)
    # enforce_file_format: preamble + "DICM" + group 0002 with group length
    # and version, encoding taken from TransferSyntaxUID.
    ds.save_as(path, enforce_file_format=True)
    check(pydicom.dcmread(path).file_meta.TransferSyntaxUID == transfer_syntax,
          f"{path.name}: transfer syntax did not round-trip")
    record(path, description)
    return path


# ---------------------------------------------------------------------------
# CT series
# ---------------------------------------------------------------------------

CT_SIZE = 64
CT_SLICES = 5
CT_PIXEL_SPACING = 4.0      # mm; 64 px * 4 mm = a 256 mm body field of view
CT_SLICE_STEP = 2.5         # mm
CT_INTERCEPT = -1024
CT_OUTSIDE_FOV = -2000      # stored value outside the reconstruction circle


def ct_phantom(slice_index: int, rng: np.random.Generator) -> np.ndarray:
    """Stored values (int16) of one slice of a disc phantom.

    HU layout: air around the body (-1000), a water disc (0) with a fat ring
    (-100), and three inserts: air (-1000), soft tissue (+60) and bone
    (+1000, radius growing with the slice index so slices differ). Corners
    outside the reconstruction circle hold a negative stored value, as real
    scanners do, so readers that ignore PixelRepresentation get it wrong.
    """
    c = (CT_SIZE - 1) / 2
    y, x = np.mgrid[0:CT_SIZE, 0:CT_SIZE]
    r = np.hypot(x - c, y - c)

    def disc(cx: float, cy: float, radius: float) -> np.ndarray:
        return np.hypot(x - (c + cx), y - (c + cy)) <= radius

    hu = np.full((CT_SIZE, CT_SIZE), -1000, dtype=np.int32)
    body = r <= 26
    hu[body] = 0
    hu[body & (r > 23)] = -100
    # Quantum-noise stand-in; integers() keeps the stream exact and simple.
    hu[body] += rng.integers(-6, 7, size=int(body.sum()))
    hu[disc(-10, -6, 5)] = -1000
    hu[disc(0, 11, 5)] = 60
    hu[disc(10, -6, 3 + slice_index * 0.5)] = 1000
    stored = hu - CT_INTERCEPT
    stored[r > CT_SIZE / 2] = CT_OUTSIDE_FOV
    return stored.astype(np.int16)


def ct_dataset(slice_index: int, pixels: np.ndarray, *, sop_instance: str,
               series_uid: str = CT_SERIES, series_number: int = 1,
               series_description: str = "Phantom 2.5mm",
               byteorder: str = "<") -> Dataset:
    ds = base_dataset(
        sop_class=CT_IMAGE, sop_instance=sop_instance, patient=CT_PATIENT,
        study_uid=CT_STUDY, series_uid=series_uid, modality="CT",
        study_description="CT Phantom Abdomen", series_description=series_description,
        series_number=series_number, instance_number=slice_index + 1,
        accession="ACC-2024-0001", study_id="1")
    ds.BodyPartExamined = "ABDOMEN"
    ds.SliceThickness = f"{CT_SLICE_STEP}"
    ds.KVP = "120"
    ds.AcquisitionNumber = 1
    ds.PatientPosition = "HFS"
    z = -50.0 + slice_index * CT_SLICE_STEP
    origin = -(CT_SIZE - 1) * CT_PIXEL_SPACING / 2
    ds.ImagePositionPatient = [f"{origin:g}", f"{origin:g}", f"{z:g}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = CT_FOR
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = f"{z:g}"
    ds.PixelSpacing = [f"{CT_PIXEL_SPACING:g}", f"{CT_PIXEL_SPACING:g}"]
    set_gray_pixels(ds, pixels, bits_stored=16, byteorder=byteorder)
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.RescaleIntercept = f"{CT_INTERCEPT}"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    return ds


def make_ct() -> list[np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    slices = []
    for k in range(CT_SLICES):
        pixels = ct_phantom(k, rng)
        ds = ct_dataset(k, pixels, sop_instance=uid(CT_INSTANCE0 + k))
        path = write(ds, HERE / "ct" / f"ct_{k + 1:04d}.dcm", ExplicitVRLittleEndian,
                     f"CT slice {k + 1}/{CT_SLICES}: 64x64 int16 disc phantom (air/fat/water/"
                     f"soft tissue/bone HU), z={-50 + k * CT_SLICE_STEP:g} mm, "
                     "Explicit VR LE, pydicom")
        back = pydicom.dcmread(path)
        check(np.array_equal(back.pixel_array, pixels), f"{path.name}: pixels")
        slices.append(pixels)
    return slices


# ---------------------------------------------------------------------------
# MR, implicit VR
# ---------------------------------------------------------------------------


def make_mr() -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    c = 31.5
    y, x = np.mgrid[0:64, 0:64]
    # An elliptical "head": bright scalp ring, mid-grey brain, dark ventricles,
    # plus a left-right intensity ramp (coil shading) and small noise.
    e = np.hypot((x - c) / 26, (y - c) / 30)
    img = np.zeros((64, 64), dtype=np.float64)
    img[e <= 1.0] = 2600
    img[e <= 0.88] = 1400
    img[np.hypot((x - c) / 5, (y - c) / 9) <= 1] = 300
    img *= 0.85 + 0.3 * x / 63
    img[e <= 1.0] += rng.integers(0, 40, size=int((e <= 1.0).sum()))
    pixels = np.clip(np.rint(img), 0, 4095).astype(np.uint16)

    ds = base_dataset(
        sop_class=MR_IMAGE, sop_instance=MR_INSTANCE, patient=MR_PATIENT,
        study_uid=MR_STUDY, series_uid=MR_SERIES, modality="MR",
        study_description="MR Head", series_description="T1 SE axial",
        series_number=3, instance_number=1, accession="ACC-2024-0002", study_id="2")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = "SE"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.SliceThickness = "5"
    ds.RepetitionTime = "500"
    ds.EchoTime = "15"
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = "63.87"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = "1.5"
    ds.SpacingBetweenSlices = "6"
    ds.EchoTrainLength = "1"
    ds.FlipAngle = "90"
    ds.PatientPosition = "HFS"
    ds.AcquisitionNumber = 1
    ds.ImagePositionPatient = ["-120", "-120", "30"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = MR_FOR
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = "30"
    ds.PixelSpacing = ["3.75", "3.75"]
    set_gray_pixels(ds, pixels, bits_stored=12)
    ds.WindowCenter = "1300"
    ds.WindowWidth = "2600"
    path = write(ds, HERE / "mr" / "mr_implicit.dcm", ImplicitVRLittleEndian,
                 "MR image 64x64 uint16 (BitsStored 12), synthetic head, different "
                 "patient/study, Implicit VR LE, pydicom")
    check(np.array_equal(pydicom.dcmread(path).pixel_array, pixels), "mr pixels")


# ---------------------------------------------------------------------------
# Multi-frame
# ---------------------------------------------------------------------------

MF_FRAMES = 10
MF_FRAME_STRIDE = 25    # frame k has pixel values in [25k, 25k + 15]


def make_multiframe() -> None:
    y, x = np.mgrid[0:32, 0:32]
    frames = np.stack([(k * MF_FRAME_STRIDE + (x + y) % 16) for k in range(MF_FRAMES)])
    frames = frames.astype(np.uint8)
    ds = base_dataset(
        sop_class=SC_MF_GRAY_BYTE, sop_instance=MF_INSTANCE, patient=MF_PATIENT,
        study_uid=MF_STUDY, series_uid=MF_SERIES, modality="OT",
        study_description="Multi-frame test", series_description="10 frames",
        series_number=1, instance_number=1, accession="ACC-2024-0004", study_id="4")
    del ds.ImageType
    ds.ConversionType = "SYN"
    ds.BurnedInAnnotation = "NO"
    ds.NumberOfFrames = MF_FRAMES
    # Frame Increment Pointer -> Page Number Vector, the usual choice for
    # multi-frame Secondary Capture without timing.
    ds.FrameIncrementPointer = 0x00182001
    ds.PageNumberVector = [str(k + 1) for k in range(MF_FRAMES)]
    set_gray_pixels(ds, frames, bits_stored=8)
    ds.PresentationLUTShape = "IDENTITY"
    # Required (1C) for MONOCHROME2 here; identity rescale, "US" = unspecified.
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    path = write(ds, HERE / "multiframe" / "mf_10frames.dcm", ExplicitVRLittleEndian,
                 f"Multi-frame SC Grayscale Byte, {MF_FRAMES} frames 32x32 uint8; frame k "
                 f"(0-based) holds values {MF_FRAME_STRIDE}k + ((x+y) mod 16), so "
                 f"pixel // {MF_FRAME_STRIDE} == k; Explicit VR LE, pydicom")
    check(np.array_equal(pydicom.dcmread(path).pixel_array, frames), "multi-frame pixels")


# ---------------------------------------------------------------------------
# JPEG 2000 lossless (+ uncompressed twin)
# ---------------------------------------------------------------------------


def run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")


def require_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        fail(f"`{name}` not found; install Debian package {package}")
    return path


def j2k_pixels() -> np.ndarray:
    """64x64 uint16 using the full 16-bit range (including the top bit, which
    catches decoders that treat the samples as signed), with smooth areas
    and a noisy patch so the codestream is not trivially small."""
    rng = np.random.default_rng(RNG_SEED + 2)
    y, x = np.mgrid[0:64, 0:64]
    img = (x * 1024 + y * 16).astype(np.int64)            # 0 .. 65520
    img[np.hypot(x - 40, y - 24) <= 12] = 65535
    img[np.hypot(x - 20, y - 44) <= 8] = 0
    img[48:60, 40:60] = rng.integers(0, 65536, size=(12, 20))
    return img.astype(np.uint16)


def encode_j2k(pixels: np.ndarray) -> bytes:
    opj_compress = require_tool("opj_compress", "libopenjp2-tools")
    opj_decompress = require_tool("opj_decompress", "libopenjp2-tools")
    rows, cols = pixels.shape
    with tempfile.TemporaryDirectory() as tmp:
        raw, j2k, decoded = (Path(tmp) / n for n in ("in.rawl", "out.j2k", "dec.rawl"))
        raw.write_bytes(pixels.astype("<u2").tobytes())
        # No -r/-q: OpenJPEG then uses the reversible 5/3 wavelet, i.e.
        # lossless. A raw .j2k codestream (not a .jp2 box file) is what
        # DICOM encapsulates for 1.2.840.10008.1.2.4.90.
        run([opj_compress, "-i", str(raw), "-o", str(j2k), "-F", f"{cols},{rows},1,16,u"])
        run([opj_decompress, "-i", str(j2k), "-o", str(decoded)])
        back = np.frombuffer(decoded.read_bytes(), dtype="<u2").reshape(rows, cols)
        check(np.array_equal(back, pixels), "opj_decompress did not return the original pixels")
        codestream = j2k.read_bytes()
    check(codestream[:4] == b"\xff\x4f\xff\x51", "not a J2K codestream (SOC+SIZ)")
    return codestream


def make_jpeg2000() -> None:
    pixels = j2k_pixels()
    codestream = encode_j2k(pixels)

    def dataset(sop_instance: str, number: int, label: str) -> Dataset:
        ds = base_dataset(
            sop_class=SC_IMAGE, sop_instance=sop_instance, patient=CODEC_PATIENT,
            study_uid=J2K_STUDY, series_uid=J2K_SERIES, modality="OT",
            study_description="Codec test", series_description="JPEG 2000 pair",
            series_number=1, instance_number=number, accession="ACC-2024-0003",
            study_id="3")
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "SYN"
        ds.ImageComments = label
        set_gray_pixels(ds, pixels, bits_stored=16)
        ds.WindowCenter = "32768"
        ds.WindowWidth = "65536"
        return ds

    twin = dataset(J2K_TWIN_INSTANCE, 2, "uncompressed twin of j2k_lossless.dcm")
    path = write(twin, HERE / "jpeg2000" / "j2k_lossless_uncompressed.dcm",
                 ExplicitVRLittleEndian,
                 "Uncompressed twin of j2k_lossless.dcm (same pixels, own SOP Instance "
                 "UID), Explicit VR LE, pydicom")
    check(np.array_equal(pydicom.dcmread(path).pixel_array, pixels), "j2k twin pixels")

    ds = dataset(J2K_INSTANCE, 1, "JPEG 2000 lossless, OpenJPEG")
    # Compressed Pixel Data: OB, undefined length, Basic Offset Table item,
    # one fragment per frame (encapsulate pads the fragment to even length).
    ds.PixelData = encapsulate([codestream], has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "00"
    path = write(ds, HERE / "jpeg2000" / "j2k_lossless.dcm", JPEG2000Lossless,
                 f"SC 64x64 uint16 (BitsStored 16), JPEG 2000 lossless (.4.90): "
                 f"{len(codestream)}-byte codestream from opj_compress (OpenJPEG, reversible "
                 f"5/3), encapsulated with pydicom.encaps.encapsulate + Basic Offset Table; "
                 f"opj_decompress verified bit-exact")

    back = pydicom.dcmread(path)
    elem = back["PixelData"]
    check(elem.is_undefined_length, "j2k Pixel Data must have undefined length")
    frames = list(generate_fragmented_frames(back.PixelData, number_of_frames=1))
    check(len(frames) == 1 and b"".join(frames[0]).rstrip(b"\x00") == codestream.rstrip(b"\x00"),
          "encapsulated codestream did not round-trip")
    # The BOT item must be present and hold one offset (0) for one frame.
    tag, length, first_offset = struct.unpack("<IIL", back.PixelData[:12])
    check(tag == 0xE000FFFE and length == 4 and first_offset == 0, "Basic Offset Table")


# ---------------------------------------------------------------------------
# Character sets
# ---------------------------------------------------------------------------

# (file stem, SpecificCharacterSet, PatientName, StudyDescription, InstitutionName)
CHARSETS: list[tuple[str, list[str], str, str, str]] = [
    ("iso_ir_100", ["ISO_IR 100"],
     "Müller^Jürgen", "Schädel CT nativ", "Klinikum Süd Ärztehaus"),
    ("iso_ir_101", ["ISO_IR 101"],
     "Wiśniewska^Żaneta", "Vyšetření hrudníku", "Szpital Łódź"),
    ("iso_ir_144", ["ISO_IR 144"],
     "Иванов^Сергей", "Компьютерная томография", "Больница №1"),
    ("iso_ir_126", ["ISO_IR 126"],
     "Παπαδόπουλος^Γιώργος", "Αξονική τομογραφία", "Νοσοκομείο Αθηνών"),
    ("iso_ir_127", ["ISO_IR 127"],
     "قباني^لنزار", "تصوير مقطعي", "مستشفى الشفاء"),
    ("iso_ir_138", ["ISO_IR 138"],
     "שרון^דבורה", "בדיקת חזה", "בית חולים העמק"),
    ("iso_ir_148", ["ISO_IR 148"],
     "Öztürk^Şükrü", "Göğüs BT", "İstanbul Hastanesi"),
    ("iso_ir_192", ["ISO_IR 192"],
     "Gonçalves^Zoë=李^小龍", "Tomografía torácica 胸部 CT", "Hôpital Saint-Éloi 東京"),
    ("gb18030", ["GB18030"],
     "Wang^XiaoDong=王^小东", "胸部CT平扫", "示例人民医院"),
    ("iso2022_ir87", ["", "ISO 2022 IR 87"],
     "Yamada^Tarou=山田^太郎=やまだ^たろう", "胸部ＣＴ検査", "山田クリニック"),
    ("iso2022_ir13_ir87", ["ISO 2022 IR 13", "ISO 2022 IR 87"],
     "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう", "胸部 CT", "ﾔﾏﾀﾞ ｸﾘﾆｯｸ"),
    ("iso2022_ir149", ["", "ISO 2022 IR 149"],
     "Hong^Gildong=洪^吉洞=홍^길동", "흉부 CT 검사", "서울 예시병원"),
]

# PS3.5 Annex H/I example byte strings. pydicom must produce exactly these,
# which pins the escape-sequence placement (reset to G0 before ^ and =).
CHARSET_REFERENCE_PN = {
    "iso2022_ir87": b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B="
                    b"\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B",
    "iso2022_ir13_ir87": b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^"
                         b"\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J",
    "iso2022_ir149": b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7="
                     b"\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf",
}


def raw_value(path: Path, keyword: str) -> bytes:
    """Undecoded value bytes of a top-level element (trailing pad removed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True, defer_size=None)
    raw = ds.get_item(keyword)
    return bytes(raw.value).rstrip(b" ")


def make_charsets() -> None:
    expected: dict[str, dict[str, object]] = {}
    pixels = (np.arange(64, dtype=np.uint8) * 4).reshape(8, 8)
    for i, (stem, charset, name, study_desc, institution) in enumerate(CHARSETS):
        ds = base_dataset(
            sop_class=SC_IMAGE, sop_instance=uid(CHARSET_UID0 + 10 * i + 2),
            patient=Patient(name, f"MVNA-CS-{i + 1:02d}", "19800101", "O"),
            study_uid=uid(CHARSET_UID0 + 10 * i), series_uid=uid(CHARSET_UID0 + 10 * i + 1),
            modality="OT", study_description=study_desc,
            series_description=f"charset {stem}", series_number=1, instance_number=1,
            accession=f"ACC-CS-{i + 1:02d}", study_id=str(100 + i))
        ds.SpecificCharacterSet = charset if len(charset) > 1 else charset[0]
        ds.InstitutionName = institution
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "SYN"
        set_gray_pixels(ds, pixels, bits_stored=8)
        path = HERE / "charsets" / f"{stem}.dcm"
        charset_text = "\\".join(charset)
        write(ds, path, ExplicitVRLittleEndian,
              f"SpecificCharacterSet `{charset_text}`: PatientName/StudyDescription/"
              "InstitutionName in that repertoire, 8x8 SC image, encoded by pydicom")

        # Decode must be exact and silent: pydicom only warns (and substitutes)
        # on undecodable bytes, so promote its warnings to errors here.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            back = pydicom.dcmread(path)
            values = {"PatientName": str(back.PatientName),
                      "StudyDescription": str(back.StudyDescription),
                      "InstitutionName": str(back.InstitutionName)}
        for key, want in (("PatientName", name), ("StudyDescription", study_desc),
                          ("InstitutionName", institution)):
            check(values[key] == want, f"{path.name} {key}: {values[key]!r} != {want!r}")
        if stem in CHARSET_REFERENCE_PN:
            got = raw_value(path, "PatientName")
            check(got == CHARSET_REFERENCE_PN[stem],
                  f"{path.name}: PatientName bytes differ from PS3.5 example: {got!r}")
        # Guard against a silently "working" ASCII/Latin-1 fallback: every
        # non-default repertoire must change the bytes on disk.
        if any(ord(ch) > 127 for ch in name):
            check(raw_value(path, "PatientName") != name.encode("utf-8") or
                  charset == ["ISO_IR 192"], f"{path.name}: PatientName stored as UTF-8")
        expected[path.name] = {"SpecificCharacterSet": charset, **values}

    out = HERE / "charsets" / "expected.json"
    out.write_text(json.dumps(expected, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                   encoding="utf-8")
    record(out, "Test oracle: file name -> SpecificCharacterSet values and the Unicode "
                "strings PatientName/StudyDescription/InstitutionName must decode to "
                "(checked against pydicom's decoding by generate.py)")


# ---------------------------------------------------------------------------
# Deflated and big endian variants of CT slice 3
# ---------------------------------------------------------------------------


def make_deflated(ct_slices: list[np.ndarray]) -> None:
    k = 2
    ds = ct_dataset(k, ct_slices[k], sop_instance=DEFLATED_INSTANCE,
                    series_uid=DEFLATED_SERIES, series_number=97,
                    series_description="Deflated copy of slice 3")
    path = write(ds, HERE / "deflated" / "deflated.dcm", DeflatedExplicitVRLittleEndian,
                 "CT slice 3 pixels/attributes (own series + SOP Instance UID), Deflated "
                 "Explicit VR LE (.1.2.1.99, raw deflate after the file meta), pydicom")
    raw = path.read_bytes()
    check(b"CT Phantom Abdomen" not in raw, "deflated body appears uncompressed")
    check(np.array_equal(pydicom.dcmread(path).pixel_array, ct_slices[k]), "deflated pixels")


def make_bigendian(ct_slices: list[np.ndarray]) -> None:
    k = 2
    ds = ct_dataset(k, ct_slices[k], sop_instance=BIGENDIAN_INSTANCE,
                    series_uid=BIGENDIAN_SERIES, series_number=98,
                    series_description="Big endian copy of slice 3", byteorder=">")
    path = write(ds, HERE / "bigendian" / "ct_big_endian.dcm", ExplicitVRBigEndian,
                 "CT slice 3 pixels/attributes (own series + SOP Instance UID), Explicit "
                 "VR Big Endian (.1.2.2, retired), OW pixel data byte-swapped; pydicom, "
                 "cross-checked with dcmconv +te when available")
    check(np.array_equal(pydicom.dcmread(path).pixel_array, ct_slices[k]), "big endian pixels")
    raw = path.read_bytes()
    check(raw[-ct_slices[k].nbytes:] == ct_slices[k].astype(">i2").tobytes(),
          "big endian Pixel Data bytes are not big-endian int16")
    # Independent reader: dcmtk converts it back to little endian; the
    # result must carry exactly the original pixels.
    dcmconv = shutil.which("dcmconv")
    if dcmconv:
        with tempfile.TemporaryDirectory() as tmp:
            le = Path(tmp) / "le.dcm"
            run([dcmconv, "+te", str(path), str(le)])
            check(np.array_equal(pydicom.dcmread(le).pixel_array, ct_slices[k]),
                  "dcmconv +te of the big endian file changed the pixels")


# ---------------------------------------------------------------------------
# Malformed files (hand-built bytes)
# ---------------------------------------------------------------------------

LONG_LENGTH_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                   "UT", "UV"}
UNDEFINED = 0xFFFFFFFF


def pad(value: bytes, vr: str) -> bytes:
    if len(value) % 2:
        value += b"\x00" if vr in ("UI", "OB", "UN") else b" "
    return value


def element(tag: int, vr: str, value: bytes = b"", length: int | None = None) -> bytes:
    """One Explicit VR Little Endian element; `length` overrides the real
    value length, which is how most of the breakage below is made."""
    group, elem = tag >> 16, tag & 0xFFFF
    if length is None:
        value = pad(value, vr)
        length = len(value)
    if vr in LONG_LENGTH_VRS:
        header = struct.pack("<HH2sHI", group, elem, vr.encode(), 0, length)
    else:
        header = struct.pack("<HH2sH", group, elem, vr.encode(), length)
    return header + value


def item(body: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, len(body) if length is None else length) + body


ITEM_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)


def part10_header(sop_instance: str) -> bytes:
    meta = b"".join([
        element(0x00020001, "OB", b"\x00\x01"),
        element(0x00020002, "UI", SC_IMAGE.encode()),
        element(0x00020003, "UI", sop_instance.encode()),
        element(0x00020010, "UI", ExplicitVRLittleEndian.encode()),
        element(0x00020012, "UI", IMPLEMENTATION_CLASS_UID.encode()),
        element(0x00020013, "SH", IMPLEMENTATION_VERSION.encode()),
    ])
    return b"\x00" * 128 + b"DICM" + element(0x00020000, "UL", struct.pack("<I", len(meta))) + meta


def make_malformed(ct_path: Path) -> None:
    out = HERE / "malformed"
    out.mkdir(parents=True, exist_ok=True)
    sop = uid(MALFORMED_UID0 + 1)
    ref_item_body = (element(0x00081150, "UI", CT_IMAGE.encode()) +
                     element(0x00081155, "UI", uid(CT_INSTANCE0).encode()))

    def head() -> bytes:  # (0008,xxxx) elements that precede the sequence
        return (element(0x00080016, "UI", SC_IMAGE.encode()) +
                element(0x00080018, "UI", sop.encode()) +
                element(0x00080060, "CS", b"OT"))

    def tail() -> bytes:  # elements after the sequence
        return (element(0x00100010, "PN", b"Malformed^Test") +
                element(0x00100020, "LO", b"MVNA-BAD") +
                element(0x0020000D, "UI", uid(MALFORMED_UID0 + 2).encode()) +
                element(0x0020000E, "UI", uid(MALFORMED_UID0 + 3).encode()))

    good_seq_item = item(ref_item_body)
    good = part10_header(sop) + head() + element(0x00081110, "SQ", good_seq_item) + tail()
    # Sanity: the un-broken base must be fine, so each file has exactly the
    # one defect it is named after.
    check(str(pydicom.dcmread(io.BytesIO(good)).PatientName) == "Malformed^Test",
          "malformed base file is not valid")

    def emit(name: str, data: bytes, description: str) -> None:
        path = out / name
        path.write_bytes(data)
        record(path, description)

    cut = good.index(b"Malformed^Test") + 5
    emit("truncated_mid_element.dcm", good[:cut],
         f"{cut} bytes: valid header cut 5 bytes into the 14-byte PatientName value "
         "(value length says 14, EOF after 5)")

    seq_body = item(ref_item_body, length=len(ref_item_body) + 100)
    emit("sequence_item_length_too_long.dcm",
         part10_header(sop) + head() + element(0x00081110, "SQ", seq_body) + tail(),
         f"ReferencedStudySequence with correct defined length {len(seq_body)}, but its "
         f"item claims {len(ref_item_body) + 100} bytes (100 more than it has), running "
         "past the sequence end into the following top-level elements")

    emit("sequence_undefined_length_no_delimiter.dcm",
         part10_header(sop) + head() +
         element(0x00081110, "SQ", item(ref_item_body, UNDEFINED) + ITEM_DELIMITER,
                 length=UNDEFINED),
         "ReferencedStudySequence with undefined length: one undefined-length item "
         "properly closed by an Item Delimitation Item, then EOF with no Sequence "
         "Delimitation Item (FFFE,E0DD)")

    body = head() + tail() + element(0x00204000, "LT", b"only twenty bytes...", length=4096)
    emit("value_length_past_eof.dcm", part10_header(sop) + body,
         "last element ImageComments (0020,4000) LT declares length 4096 but only 20 "
         "bytes follow before EOF")

    no_magic = part10_header(sop) + head() + tail()
    emit("missing_dicm.dcm", no_magic[:128] + no_magic[132:],
         "valid Part 10 file with the 4-byte \"DICM\" magic removed: 128-byte preamble "
         "directly followed by the (0002,0000) group length element")

    emit("all_zeros.dcm", b"\x00" * 1024, "1024 zero bytes (no DICM at offset 128)")
    emit("empty.dcm", b"", "0-byte file")

    ct_bytes = ct_path.read_bytes()
    pixel_bytes = CT_SIZE * CT_SIZE * 2
    half = len(ct_bytes) - pixel_bytes // 2
    emit("truncated_pixel_data.dcm", ct_bytes[:half],
         f"ct/{ct_path.name} cut in the middle of Pixel Data ({pixel_bytes // 2} of "
         f"{pixel_bytes} value bytes present): the header is intact, so header-only "
         "parsing may succeed while pixel access must fail")


# ---------------------------------------------------------------------------
# README
# ---------------------------------------------------------------------------

README_HEAD = """\
# MiniVNA test fixtures

Generated by `python3 Fixtures/generate.py` (do not edit the files by hand;
this README is generated too). Output is deterministic: rerunning the script
reproduces every file byte for byte. Needs pydicom 3.x, numpy, and
`opj_compress`/`opj_decompress` (Debian `libopenjp2-tools`); `dcmconv`
(dcmtk) is used for an extra check when present.

All UIDs are `2.25.<base + n>`, base = `{base}`.
Every study is dated {date}. File meta: ImplementationClassUID
`{impl}`, ImplementationVersionName `{ver}`.

Patients: CT series, deflated and big endian copies = `Doe^John`/`MVNA-001`;
MR = `Roe^Jane`/`MVNA-002`; JPEG 2000 pair = `Codec^Test`/`MVNA-003`;
multi-frame = `Frames^Multi`/`MVNA-004`; charsets = `MVNA-CS-01`..`12`.

Malformed files are hand-assembled byte strings (Explicit VR Little Endian,
valid except for the one defect named). A strict parser should reject each
of them, except `truncated_pixel_data.dcm` in header-only mode. For reference,
pydicom 3.0.2 silently accepts `truncated_mid_element.dcm`,
`value_length_past_eof.dcm` (both yield a short value) and
`sequence_item_length_too_long.dcm` (it clips the item at the sequence end),
while dcmtk's `dcmdump` rejects all three.

Charset strings: the ISO 2022 PatientName bytes equal the PS3.5 Annex H/I
examples exactly (checked by the script). dcmtk built on glibc iconv cannot
convert ISO 2022 IR 87/IR 13, so `dcmdump +U8` fails on those two files;
that is a dcmtk limitation, not a fixture error.

| file | what it is and how it was made |
| --- | --- |
"""


def write_readme() -> None:
    text = README_HEAD.format(base=UID_BASE, date=STUDY_DATE,
                              impl=IMPLEMENTATION_CLASS_UID, ver=IMPLEMENTATION_VERSION)
    text += "".join(f"| `{path}` | {desc} |\n" for path, desc in sorted(MANIFEST))
    (HERE / "README.md").write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------


def main() -> int:
    if not pydicom.__version__.startswith("3."):
        fail(f"pydicom 3.x required, found {pydicom.__version__}")
    for name in OWNED_DIRS:
        shutil.rmtree(HERE / name, ignore_errors=True)
    ct_slices = make_ct()
    make_mr()
    make_multiframe()
    make_jpeg2000()
    make_charsets()
    make_deflated(ct_slices)
    make_bigendian(ct_slices)
    make_malformed(HERE / "ct" / "ct_0001.dcm")
    write_readme()
    total = sum(f.stat().st_size for f in HERE.rglob("*") if f.is_file())
    print(f"wrote {len(MANIFEST)} fixture files under {HERE} ({total / 1e3:.0f} kB total)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
