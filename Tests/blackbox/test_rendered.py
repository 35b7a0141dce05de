"""WADO-RS rendered and thumbnail resources: decoded with Pillow, compared with a numpy
rendering of pydicom's pixel data (PS3.3 C.11.2.1.2 linear VOI)."""
import io
import os
import pathlib
import subprocess

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from pydicom.data import get_testdata_file

from bbhelpers import FIXTURES, assert_json_error, stow

CT = FIXTURES / "ct" / "ct_0001.dcm"
MF = FIXTURES / "multiframe" / "mf_10frames.dcm"
J2K_RGB = pathlib.Path(get_testdata_file("US1_J2KR.dcm"))
RGB = pathlib.Path(get_testdata_file("SC_rgb.dcm"))
MONO1 = pathlib.Path(get_testdata_file("RG1_J2KR.dcm"))


@pytest.fixture(scope="module")
def server(module_server):
    assert stow(module_server.base, [p.read_bytes() for p in (CT, MF, J2K_RGB, RGB, MONO1)]).status_code == 200
    return module_server


def url(server, path, ds, suffix):
    return (f"{server.base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}"
            f"{suffix}")


def reference_window(ds, center, width, frame=None):
    """PS3.3 C.11.2.1.2.1 linear VOI over the modality values, to 8 bits (the test's own copy)."""
    pixels = ds.pixel_array if frame is None else ds.pixel_array[frame]
    x = pixels.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255
    y = np.where(x <= center - 0.5 - (width - 1) / 2, 0, np.where(x > center - 0.5 + (width - 1) / 2, 255, y))
    return np.clip(np.rint(y), 0, 255).astype(np.int64)


@pytest.mark.parametrize("accept, kind", [("image/png", "PNG"), (None, "JPEG"), ("image/*", "JPEG")])
def test_rendered_ct_window_40_400(server, accept, kind):
    ds = pydicom.dcmread(CT)
    headers = {"Accept": accept} if accept else {}
    r = requests.get(url(server, CT, ds, "/rendered?window=40,400"), headers=headers, timeout=30)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["Content-Type"] == ("image/png" if kind == "PNG" else "image/jpeg")
    assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    image = Image.open(io.BytesIO(r.content))
    assert image.format == kind and image.size == (ds.Columns, ds.Rows)
    if kind == "PNG":   # lossless output: within ±1 of the reference
        ours = np.asarray(image.convert("L")).astype(np.int64)
        assert np.abs(ours - reference_window(ds, 40, 400)).max() <= 1


def test_without_a_window_the_files_window_is_used(server):
    ds = pydicom.dcmread(CT)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    r = requests.get(url(server, CT, ds, "/rendered"), headers={"Accept": "image/png"}, timeout=30)
    ours = np.asarray(Image.open(io.BytesIO(r.content)).convert("L")).astype(np.int64)
    assert np.abs(ours - reference_window(ds, center, width)).max() <= 1


def test_monochrome1_is_inverted(server):
    ds = pydicom.dcmread(MONO1)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    r = requests.get(url(server, MONO1, ds, "/rendered?window=2000,4000"), headers={"Accept": "image/png"}, timeout=60)
    assert r.status_code == 200
    ours = np.asarray(Image.open(io.BytesIO(r.content)).convert("L")).astype(np.int64)
    assert np.abs(ours - (255 - reference_window(ds, 2000, 4000))).max() <= 1


def test_color_jpeg2000_renders_as_rgb(server):
    ds = pydicom.dcmread(J2K_RGB)
    r = requests.get(url(server, J2K_RGB, ds, "/rendered"), headers={"Accept": "image/png"}, timeout=60)
    assert r.status_code == 200
    image = Image.open(io.BytesIO(r.content))
    assert image.mode == "RGB" and image.size == (ds.Columns, ds.Rows)
    original = pydicom.dcmread(get_testdata_file("US1_UNCR.dcm")).pixel_array
    assert np.array_equal(np.asarray(image), original)


def test_frame_rendered_viewport_and_quality(server):
    ds = pydicom.dcmread(MF)
    r = requests.get(url(server, MF, ds, "/frames/3/rendered?viewport=32,16&quality=50"), timeout=30)
    assert r.status_code == 200
    image = Image.open(io.BytesIO(r.content))
    assert image.format == "JPEG" and max(image.size) <= 32 and image.size[1] <= 16
    assert_json_error(requests.get(url(server, MF, ds, "/frames/11/rendered"), timeout=30), 404, "frame 11")
    assert_json_error(requests.get(url(server, MF, ds, "/frames/1,2/rendered"), timeout=30), 400, "one at a time")


@pytest.mark.parametrize("query, needle", [
    ("window=40", "window"), ("window=40,0", "window"), ("window=40,400,cubic", "window"), ("viewport=0,10", "viewport"),
    ("viewport=10,10,0,0,5,5", "viewport"), ("quality=0", "quality"), ("annotation=patient", "annotation"),
    ("color=red", "color"),
])
def test_bad_parameters_are_400(server, query, needle):
    ds = pydicom.dcmread(CT)
    assert_json_error(requests.get(url(server, CT, ds, f"/rendered?{query}"), timeout=30), 400, needle)


def test_unsupported_media_type_is_406(server):
    ds = pydicom.dcmread(CT)
    assert_json_error(requests.get(url(server, CT, ds, "/rendered"), headers={"Accept": "image/gif"}, timeout=30), 406)


def test_thumbnails_of_instance_series_and_study(server):
    ds = pydicom.dcmread(CT)
    for path in (f"/studies/{ds.StudyInstanceUID}/thumbnail", f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/thumbnail",
                 f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{ds.SOPInstanceUID}/thumbnail"):
        r = requests.get(server.base + path, timeout=30)
        assert r.status_code == 200, (path, r.text[:200])
        image = Image.open(io.BytesIO(r.content))
        # At most 128 pixels on the long side, and never enlarged beyond the image itself.
        assert image.format == "JPEG" and max(image.size) == min(128, max(ds.Rows, ds.Columns))
    large = pydicom.dcmread(MONO1)   # 1955x1841: scaled down to fit 128x128, aspect ratio kept
    r = requests.get(url(server, MONO1, large, "/thumbnail"), timeout=30)
    assert r.status_code == 200, r.text[:200]
    assert Image.open(io.BytesIO(r.content)).size == (round(1841 * 128 / 1955), 128)
    assert_json_error(requests.get(f"{server.base}/studies/1.2.3.4/thumbnail", timeout=30), 404)


def test_series_and_study_rendered_are_the_representative_instance_via_dicomweb_client(server):
    """One image (as dicomweb-client and Orthanc expect), identical to the instance's own."""
    ds = pydicom.dcmread(CT)
    client = DICOMwebClient(url=server.base)
    instance = client.retrieve_instance_rendered(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
                                                 media_types=("image/png",), params={"window": "40,400"})
    series = client.retrieve_series_rendered(ds.StudyInstanceUID, ds.SeriesInstanceUID,
                                             media_types=("image/png",), params={"window": "40,400"})
    # dicomweb-client has no study-level call: requests.
    study = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/rendered", params={"window": "40,400"},
                         headers={"Accept": "image/png"}, timeout=30).content
    assert Image.open(io.BytesIO(instance)).size == (ds.Columns, ds.Rows)
    assert series == instance and study == instance
    assert_json_error(requests.get(f"{server.base}/studies/1.2.3.4/rendered", timeout=30), 404)
    assert_json_error(requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/rendered?viewport=0,0", timeout=30), 400)


def test_rendered_and_thumbnails_are_revalidated_with_etags(start_server):
    """A viewer revalidating a thumbnail gets 304 until the study changes; JPEG and PNG have
    their own validators."""
    server = start_server()
    ds = pydicom.dcmread(CT)
    assert stow(server.base, [CT.read_bytes()]).status_code == 200
    for path in (f"/studies/{ds.StudyInstanceUID}/thumbnail", url(server, CT, ds, "/rendered").replace(server.base, "")):
        first = requests.get(server.base + path, headers={"Accept": "image/jpeg"}, timeout=30)
        assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
        assert "Accept" in first.headers.get("Vary", "")
        again = requests.get(server.base + path, headers={"Accept": "image/jpeg", "If-None-Match": first.headers["ETag"]},
                             timeout=30)
        assert again.status_code == 304 and not again.content
        png = requests.get(server.base + path, headers={"Accept": "image/png", "If-None-Match": first.headers["ETag"]},
                           timeout=30)
        assert png.status_code == 200 and png.headers["ETag"] != first.headers["ETag"]
    # A new instance in the study: the old validator no longer matches.
    old = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/thumbnail", timeout=30).headers["ETag"]
    other = pydicom.dcmread(CT)
    other.SOPInstanceUID = other.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    buffer = io.BytesIO()
    other.save_as(buffer, enforce_file_format=True)
    assert stow(server.base, [buffer.getvalue()]).status_code == 200
    r = requests.get(f"{server.base}/studies/{ds.StudyInstanceUID}/thumbnail", headers={"If-None-Match": old}, timeout=30)
    assert r.status_code == 200 and r.headers["ETag"] != old


def test_a_cached_rendering_never_outlives_the_study_it_was_rendered_from(start_server):
    """Rendered images are kept (see --render-cache-mb), keyed by the study's validator: a
    replaced instance is rendered anew and a deleted one is 404, however recently it was rendered."""
    server = start_server("--duplicates", "replace")
    ds = pydicom.dcmread(CT)
    assert stow(server.base, [CT.read_bytes()]).status_code == 200
    rendered = url(server, CT, ds, "/rendered?window=40,400")

    def png():
        r = requests.get(rendered, headers={"Accept": "image/png"}, timeout=30)
        assert r.status_code == 200, r.text[:300]
        return r.content, np.asarray(Image.open(io.BytesIO(r.content)).convert("L")).astype(np.int64)

    first, pixels = png()
    assert np.abs(pixels - reference_window(ds, 40, 400)).max() <= 1
    assert png()[0] == first
    # The same instance again with other pixel values (replace policy): the new pixels are rendered.
    changed = pydicom.dcmread(CT)
    changed.PixelData = (changed.pixel_array[::-1, :].astype(changed.pixel_array.dtype)).tobytes()
    buffer = io.BytesIO()
    changed.save_as(buffer, enforce_file_format=True)
    assert stow(server.base, [buffer.getvalue()]).status_code == 200
    replaced, pixels = png()
    assert replaced != first and np.abs(pixels - reference_window(changed, 40, 400)).max() <= 1
    assert requests.delete(f"{server.base}/studies/{ds.StudyInstanceUID}", timeout=30).status_code == 204
    assert_json_error(requests.get(rendered, headers={"Accept": "image/png"}, timeout=30), 404)


def _flip_stored_pixels(server, ds):
    """Rewrites the stored file in place (same size, rows reversed) behind the server's back."""
    [path] = pathlib.Path(server.data_dir).glob(f"files/*/{ds.SOPInstanceUID}.dcm")
    stored = pydicom.dcmread(path)
    stored.PixelData = stored.pixel_array[::-1, :].astype(stored.pixel_array.dtype).tobytes()
    stored.save_as(path, enforce_file_format=True)
    return stored


@pytest.mark.parametrize("cache_mb, rendered_again", [("0", True), ("32", False)])
def test_the_render_cache_can_be_turned_off(start_server, cache_mb, rendered_again):
    """With --render-cache-mb 0 every request renders the file as it is now; with a cache a
    repeated request is answered from memory (the study's validator has not changed: the file
    was rewritten behind the server's back, which only this test does)."""
    server = start_server("--render-cache-mb", cache_mb)
    ds = pydicom.dcmread(CT)
    assert stow(server.base, [CT.read_bytes()]).status_code == 200
    rendered = url(server, CT, ds, "/rendered?window=40,400")
    first = requests.get(rendered, headers={"Accept": "image/png"}, timeout=30)
    assert first.status_code == 200
    flipped = _flip_stored_pixels(server, ds)
    again = requests.get(rendered, headers={"Accept": "image/png"}, timeout=30)
    assert again.status_code == 200 and (again.content != first.content) == rendered_again
    if rendered_again:
        pixels = np.asarray(Image.open(io.BytesIO(again.content)).convert("L")).astype(np.int64)
        assert np.abs(pixels - reference_window(flipped, 40, 400)).max() <= 1


def test_an_invalid_render_cache_size_is_refused(minivna_bin, tmp_data_root):
    for args, env in ((["--render-cache-mb", "-1"], {}), ([], {"MINIVNA_RENDER_CACHE_MB": "lots"})):
        r = subprocess.run([str(minivna_bin), "serve", "--port", "0", "--data", str(tmp_data_root), *args],
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=30)
        assert r.returncode != 0 and "render-cache-mb" in r.stderr, (args, env, r.stderr)
