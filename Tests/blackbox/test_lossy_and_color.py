"""Lossy transfer syntaxes on request (JPEG baseline, JPEG 2000), frames compressed on request,
and the color models rendering covers beyond RGB: PALETTE COLOR and native YBR_FULL_422.

Tolerances (lossy codecs cannot be exact; stated here and in CONFORMANCE.md):
- JPEG baseline at quality 90 with 4:2:2 chroma: PSNR >= 30 dB against the original RGB
  (color bars with sharp edges are the worst case for chroma subsampling).
- JPEG 2000 lossy at 10:1: PSNR >= 40 dB against the original, the peak being the Bits Stored
  range.
"""
import io
import pathlib
import subprocess

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_color_lut, convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from bbhelpers import FIXTURES, assert_json_error, parse_multipart, stow

CT = FIXTURES / "ct" / "ct_0001.dcm"                                        # 16-bit MONOCHROME2
RGB = pathlib.Path(get_testdata_file("SC_rgb.dcm"))                          # 8-bit RGB color bars
PALETTE = pathlib.Path(get_testdata_file("examples_palette.dcm"))            # PALETTE COLOR, 16-bit entries
PALETTE_RLE = pathlib.Path(get_testdata_file("OBXXXX1A_rle.dcm"))            # PALETTE COLOR, RLE
YBR_422 = pathlib.Path(get_testdata_file("SC_ybr_full_422_uncompressed.dcm"))  # native YBR_FULL_422

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG2000 = "1.2.840.10008.1.2.4.91"
JPEG2000_LOSSLESS = "1.2.840.10008.1.2.4.90"


def gray8():
    """An 8-bit MONOCHROME2 image with smooth content (a radial gradient), made here."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PatientName, ds.PatientID, ds.Modality = "Lossy^Gray", "LOSSY-1", "OT"
    ds.Rows = ds.Columns = 128
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    y, x = np.mgrid[0:128, 0:128]
    ds.PixelData = (255 - np.clip(np.hypot(x - 64, y - 64) * 3, 0, 255)).astype(np.uint8).tobytes()
    return ds


GRAY8 = gray8()


def with_new_uids(path):
    """pydicom-data's palette pair shares one SOP Instance UID: the RLE twin gets its own."""
    ds = pydicom.dcmread(path)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    return ds


PALETTE_RLE_DS = with_new_uids(PALETTE_RLE)


def to_bytes(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(module_server):
    parts = [p.read_bytes() for p in (CT, RGB, PALETTE, YBR_422)] + [to_bytes(GRAY8), to_bytes(PALETTE_RLE_DS)]
    assert stow(module_server.base, parts).status_code == 200
    return module_server


def instance_path(ds):
    return f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"


def psnr(a, b, peak):
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10 * np.log10(peak ** 2 / error)


def assert_lossy_attributes(got, method):
    assert got.LossyImageCompression == "01"
    assert list(np.atleast_1d(got.LossyImageCompressionMethod))[-1] == method
    assert float(list(np.atleast_1d(got.LossyImageCompressionRatio))[-1]) > 1


# Lossy instances on request


def test_jpeg_baseline_rgb_instance_via_dicomweb_client(server):
    original = pydicom.dcmread(RGB)
    client = DICOMwebClient(url=server.base)
    got = client.retrieve_instance(original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID,
                                   media_types=(("application/dicom", JPEG_BASELINE),))
    assert got.file_meta.TransferSyntaxUID == JPEG_BASELINE
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert got.PhotometricInterpretation == "YBR_FULL_422" and got.PlanarConfiguration == 0
    assert_lossy_attributes(got, "ISO_10918_1")
    pixels = got.pixel_array   # pydicom decodes with Pillow and converts YBR_FULL_422 to RGB
    assert pixels.shape == original.pixel_array.shape
    assert psnr(pixels, original.pixel_array, 255) >= 30


def test_jpeg_baseline_grayscale_instance(server):
    r = requests.get(server.base + instance_path(GRAY8),
                     headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={JPEG_BASELINE}'},
                     timeout=30)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    assert f"transfer-syntax={JPEG_BASELINE}" in headers["content-type"]
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.PhotometricInterpretation == "MONOCHROME2"
    assert_lossy_attributes(got, "ISO_10918_1")
    assert np.abs(got.pixel_array.astype(int) - GRAY8.pixel_array.astype(int)).max() <= 8


@pytest.mark.parametrize("path, syntax, reason", [
    (CT, JPEG_BASELINE, "8-bit"),                 # 16-bit samples do not fit JPEG baseline
    (PALETTE, JPEG_BASELINE, "PALETTE COLOR"),     # palette indices are never coded lossily
    (PALETTE, JPEG2000, "PALETTE COLOR"),
], ids=["16-bit as JPEG baseline", "palette as JPEG baseline", "palette as lossy JPEG 2000"])
def test_lossy_requests_that_cannot_be_met_are_406_with_the_reason(server, path, syntax, reason):
    ds = pydicom.dcmread(path)
    r = requests.get(server.base + instance_path(ds),
                     headers={"Accept": f'multipart/related; type="application/dicom"; transfer-syntax={syntax}'}, timeout=30)
    assert_json_error(r, 406, reason)


def test_jpeg2000_lossy_ct_instance(server):
    ct = pydicom.dcmread(CT)
    client = DICOMwebClient(url=server.base)
    got = client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID,
                                   media_types=(("application/dicom", JPEG2000),))
    assert got.file_meta.TransferSyntaxUID == JPEG2000
    assert_lossy_attributes(got, "ISO_15444_1")
    ratio = float(list(np.atleast_1d(got.LossyImageCompressionRatio))[-1])
    assert 5 <= ratio <= 20, ratio   # aimed at 10:1
    assert psnr(got.pixel_array, ct.pixel_array, 2 ** ct.BitsStored) >= 40


def test_lossless_request_carries_no_lossy_attributes(server):
    ct = pydicom.dcmread(CT)
    client = DICOMwebClient(url=server.base)
    got = client.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID,
                                   media_types=(("application/dicom", JPEG2000_LOSSLESS),))
    assert "LossyImageCompression" not in got
    assert np.array_equal(got.pixel_array, ct.pixel_array)


# Frames compressed on request


def test_native_frames_as_jpeg2000_decode_to_the_same_samples(server):
    ct = pydicom.dcmread(CT)
    r = requests.get(server.base + instance_path(ct) + "/frames/1",
                     headers={"Accept": 'multipart/related; type="image/jp2"'}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    (headers, body), = parse_multipart(r)
    assert headers["content-type"].startswith("image/jp2") and JPEG2000_LOSSLESS in headers["content-type"]
    # Decoded by pydicom from an encapsulated copy (it handles the signed samples; Pillow alone
    # would offset them by 2^15).
    copy = pydicom.dcmread(CT)
    copy.PixelData = encapsulate([body])
    copy["PixelData"].VR = "OB"
    copy.file_meta.TransferSyntaxUID = JPEG2000_LOSSLESS
    assert np.array_equal(copy.pixel_array, ct.pixel_array)


def test_native_frames_as_jpeg_single_part(server):
    r = requests.get(server.base + instance_path(GRAY8) + "/frames/1", headers={"Accept": "image/jpeg"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"].startswith("image/jpeg")
    assert int(r.headers["Content-Length"]) == len(r.content)
    decoded = np.asarray(Image.open(io.BytesIO(r.content)))
    assert np.abs(decoded.astype(int) - GRAY8.pixel_array.astype(int)).max() <= 8


def test_frames_as_jpeg_of_16_bit_samples_is_406(server):
    ct = pydicom.dcmread(CT)
    r = requests.get(server.base + instance_path(ct) + "/frames/1",
                     headers={"Accept": 'multipart/related; type="image/jpeg"'}, timeout=30)
    assert_json_error(r, 406, "8-bit")


def test_unknown_frame_media_type_406_lists_the_encodable_ones(server):
    ct = pydicom.dcmread(CT)
    r = requests.get(server.base + instance_path(ct) + "/frames/1",
                     headers={"Accept": 'multipart/related; type="image/jls"'}, timeout=30)
    assert_json_error(r, 406)
    assert "image/jp2" in r.headers.get("Available-Media-Types", "") or "image/jp2" in r.text


# Color models: PALETTE COLOR and native YBR_FULL_422


@pytest.mark.parametrize("ds", [pydicom.dcmread(PALETTE), PALETTE_RLE_DS], ids=["native", "rle"])
def test_palette_color_rendered_png_equals_pydicom_lut(server, ds):
    r = requests.get(server.base + instance_path(ds) + "/rendered", headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    image = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    reference = apply_color_lut(ds.pixel_array, ds)
    if reference.dtype == np.uint16:
        reference = (reference >> 8).astype(np.uint8)
    assert image.shape == reference.shape
    assert np.array_equal(image, reference)


def test_native_ybr_full_422_rendered_and_served_as_frames(server):
    ds = pydicom.dcmread(YBR_422)
    r = requests.get(server.base + instance_path(ds) + "/rendered", headers={"Accept": "image/png"}, timeout=30)
    assert r.status_code == 200, r.text[:300]
    image = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    reference = ds.pixel_array.astype(int)   # pydicom expands the chroma and converts to RGB
    assert np.abs(image - reference).max() <= 1
    # The frame itself is the stored 2-samples-per-pixel layout (Y1 Y2 Cb Cr per pair).
    r = requests.get(server.base + instance_path(ds) + "/frames/1", headers={"Accept": "application/octet-stream"},
                     timeout=30)
    assert r.status_code == 200 and r.content == ds.PixelData


# Storage policy: compress on ingest (off by default)


def stored_files(data_dir):
    return sorted(pathlib.Path(data_dir, "files").rglob("*.dcm"))


def test_default_policy_stores_instances_as_received(start_server):
    server = start_server()
    ct_bytes = CT.read_bytes()
    assert stow(server.base, [ct_bytes]).status_code == 200
    files = stored_files(server.data_dir)
    assert len(files) == 1 and files[0].read_bytes() == ct_bytes


def test_compress_on_ingest_keeps_uids_and_pixel_values(start_server, minivna_bin, tmp_path):
    server = start_server("--compress-on-ingest")
    originals = [pydicom.dcmread(p) for p in (CT, RGB, PALETTE, YBR_422)] + [GRAY8]
    assert stow(server.base, [to_bytes(ds) for ds in originals]).status_code == 200
    client = DICOMwebClient(url=server.base)
    for original in originals:
        stored = client.retrieve_instance(original.StudyInstanceUID, original.SeriesInstanceUID, original.SOPInstanceUID,
                                          media_types=(("application/dicom", "*"),))
        assert stored.SOPInstanceUID == original.SOPInstanceUID
        if original.PhotometricInterpretation == "YBR_FULL_422":
            # Native 4:2:2 would change layout to be encoded: kept as received.
            assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        else:
            assert stored.file_meta.TransferSyntaxUID == JPEG2000_LOSSLESS, original.SOPInstanceUID
            assert stored.get("LossyImageCompression") == original.get("LossyImageCompression")   # not made lossy
        assert np.array_equal(stored.pixel_array, original.pixel_array), original.SOPInstanceUID
        # The server's default syntax (no transfer-syntax parameter: Explicit VR Little Endian) is
        # still answered, decoded by MiniVNA, with the same pixels. (dicomweb-client's own default
        # asks for transfer-syntax=*, i.e. as stored, which the loop above used.)
        r = requests.get(server.base + instance_path(original), headers={"Accept": 'multipart/related; type="application/dicom"'},
                         timeout=30)
        assert r.status_code == 200, r.text[:300]
        (_, body), = parse_multipart(r)
        default = pydicom.dcmread(io.BytesIO(body))
        assert default.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert np.array_equal(default.pixel_array, original.pixel_array)
    # The stored RGB file uses the reversible colour transform; the metadata says what is stored.
    rgb = pydicom.dcmread(RGB)
    meta = client.retrieve_instance_metadata(rgb.StudyInstanceUID, rgb.SeriesInstanceUID, rgb.SOPInstanceUID)
    assert meta["00280004"]["Value"] == ["YBR_RCT"]
    # Storing the same instance again is still an idempotent success, not a conflict.
    again = stow(server.base, [CT.read_bytes()])
    assert again.status_code == 200, again.text[:300]
    # The data folder is consistent.
    server.kill()
    out = subprocess.run([str(minivna_bin), "verify", "--data", server.data_dir], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


# Crafted and unusual pixel descriptions: refused with a reason, never a crash.


def crafted(*, rows=4, columns=4, samples=1, photometric="MONOCHROME2", bits=16, stored=16, planar=None,
            representation=None, pixel_bytes=None):
    ds = gray8()
    ds.PatientName = "Crafted^Pixels"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, samples, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, stored, stored - 1
    if planar is not None:
        ds.PlanarConfiguration = planar
    if representation is not None:
        del ds.PixelRepresentation
        ds.add_new(0x00280103, "SS", representation)
    ds.PixelData = pixel_bytes if pixel_bytes is not None else bytes(rows * columns * samples * bits // 8)
    return ds


def test_crafted_pixel_descriptions_are_refused_not_crashes(start_server):
    server = start_server("--compress-on-ingest")
    negative = crafted(representation=-1)
    ybr16 = crafted(rows=2, columns=2, samples=3, photometric="YBR_FULL_422", planar=1, pixel_bytes=bytes(16))
    assert stow(server.base, [to_bytes(negative), to_bytes(ybr16)]).status_code == 200
    for ds in (negative, ybr16):
        for accept in (f'multipart/related; type="application/dicom"; transfer-syntax={JPEG2000_LOSSLESS}',
                       'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5'):
            r = requests.get(server.base + instance_path(ds), headers={"Accept": accept}, timeout=30)
            assert r.status_code in (200, 406), (accept, r.status_code, r.text[:200])
        for accept in ('multipart/related; type="image/jp2"', 'multipart/related; type="image/dicom-rle"'):
            r = requests.get(server.base + instance_path(ds) + "/frames/1", headers={"Accept": accept}, timeout=30)
            assert r.status_code in (200, 406), (accept, r.status_code, r.text[:200])
    # Stored as received (the policy could not encode them), and the server is still up.
    client = DICOMwebClient(url=server.base)
    got = client.retrieve_instance(negative.StudyInstanceUID, negative.SeriesInstanceUID, negative.SOPInstanceUID)
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert requests.get(server.base + "/studies", timeout=30).status_code == 200


def test_native_bulk_data_is_never_labelled_as_compressed(server):
    ct = pydicom.dcmread(CT)
    r = requests.get(server.base + instance_path(ct) + "/bulkdata/7FE00010",
                     headers={"Accept": 'multipart/related; type="image/jp2"'}, timeout=30)
    assert_json_error(r, 406)


def test_decoding_a_jpeg_baseline_instance_marks_it_lossy(start_server):
    server = start_server()
    original = with_new_uids(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    for keyword in ("LossyImageCompression", "LossyImageCompressionRatio", "LossyImageCompressionMethod"):
        if keyword in original:
            delattr(original, keyword)   # a sloppy sender's file: JPEG baseline without the flag
    assert stow(server.base, [to_bytes(original)]).status_code == 200
    r = requests.get(server.base + instance_path(original), headers={"Accept": 'multipart/related; type="application/dicom"'},
                     timeout=30)
    assert r.status_code == 200, r.text[:300]
    (_, body), = parse_multipart(r)
    got = pydicom.dcmread(io.BytesIO(body))
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian and got.LossyImageCompression == "01"


def test_compress_on_ingest_keeps_files_whose_samples_exceed_bits_stored(start_server):
    """Bits above Bits Stored (overlays in unused bits) would be lost by JPEG 2000: such a file
    is stored byte for byte as received."""
    server = start_server("--compress-on-ingest")
    values = np.full(16, 0x1000 | 5, dtype="<u2")   # bit 12 set, Bits Stored 12
    ds = crafted(stored=12, pixel_bytes=values.tobytes())
    sent = to_bytes(ds)
    assert stow(server.base, [sent]).status_code == 200
    files = stored_files(server.data_dir)
    assert len(files) == 1 and files[0].read_bytes() == sent


def test_resending_after_the_policy_was_switched_on_is_idempotent(start_server):
    first = start_server()
    sent = CT.read_bytes()
    assert stow(first.base, [sent]).status_code == 200
    first.stop()
    again = start_server("--compress-on-ingest", data_dir=first.data_dir)
    r = stow(again.base, [sent])
    assert r.status_code == 200, r.text[:300]   # the same instance, not a conflict
    files = stored_files(again.data_dir)
    assert len(files) == 1 and files[0].read_bytes() == sent   # the stored file is untouched
    assert not list(pathlib.Path(again.data_dir, "tmp").iterdir())
