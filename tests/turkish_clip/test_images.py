"""turkish_clip.images: CLIP preprocessing checked against transformers' CLIPImageProcessor on the shipped demo
photographs, exact values on constructed images, loading errors and folder listing."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from turkish_clip.errors import InputError
from turkish_clip.images import (
    CLIP_MEAN,
    CLIP_STD,
    center_crop_box,
    iter_image_files,
    load_image,
    preprocess,
    preprocess_batch,
    resized_size,
)

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "images"
MEAN = np.asarray(CLIP_MEAN, dtype=np.float32)[:, None, None]
STD = np.asarray(CLIP_STD, dtype=np.float32)[:, None, None]


def _normalised(pixels_hwc: np.ndarray) -> np.ndarray:
    """uint8 [h, w, 3] -> what CLIP's ToTensor + Normalize give, float32 [3, h, w]."""
    return (pixels_hwc.transpose(2, 0, 1).astype(np.float32) / np.float32(255) - MEAN) / STD


@pytest.fixture(scope="module")
def hf_processor():
    """transformers' CLIPImageProcessor configured as openai/clip-vit-base-patch32's preprocessor_config.json."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(
        do_resize=True, size={"shortest_edge": 224}, resample=Image.BICUBIC, do_center_crop=True,
        crop_size={"height": 224, "width": 224}, do_rescale=True, rescale_factor=1 / 255, do_normalize=True,
        image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD), do_convert_rgb=True,
    )


DEMO_PHOTOS = sorted(p.name for p in DEMO.glob("*.jpg"))


def test_demo_photos_are_shipped_with_licences():
    assert len(DEMO_PHOTOS) >= 5
    licences = (DEMO / "LICENSES.md").read_text(encoding="utf-8")
    for name in DEMO_PHOTOS:
        row = next(line for line in licences.splitlines() if line.startswith(f"| `{name}`"))
        assert "CC0" in row or "Public domain" in row, row
        with Image.open(DEMO / name) as img:
            assert max(img.size) <= 640 and min(img.size) >= 224  # real downscaling for every photo


@pytest.mark.parametrize("name", DEMO_PHOTOS)
def test_matches_clip_image_processor_on_real_photos(name, hf_processor):
    path = DEMO / name
    ours = preprocess(path)
    photo = load_image(path)
    hf = hf_processor(images=photo, return_tensors="np")["pixel_values"][0]
    assert ours.shape == hf.shape == (3, 224, 224) and ours.dtype == np.float32
    # Both resize with PIL's bicubic on uint8 to the same size (short side 224, long side truncated), so pixels
    # agree bit for bit; HF rescales in float64 then casts, which equals float32 x/255 for all 256 levels.
    # Measured max abs diff: 0.0 on all photos (after the crop alignment below); 1e-6 leaves room for BLAS/numpy
    # changes in float rounding only — one pixel of misalignment or a different resize gives > 0.1.
    # The one real difference is the centre-crop offset when the spare pixels are odd: torchvision (openai-clip)
    # uses round(spare / 2) (half to even), HF floors spare // 2. rocket.jpg: 640x427 -> 335x224, spare 111,
    # torchvision left = round(55.5) = 56, HF left = 55; we follow torchvision, so HF is one column to the left.
    width, height = resized_size(*photo.size)
    left, top, _, _ = center_crop_box(width, height)
    dl, dt = left - (width - 224) // 2, top - (height - 224) // 2  # our offset minus HF's
    assert (dl, dt) == ((1, 0) if name == "rocket.jpg" else (0, 0))
    diff = np.abs(ours[:, : 224 - dt, : 224 - dl] - hf[:, dt:, dl:]).max()
    assert diff <= 1e-6, f"{name}: max abs diff {diff}"
    if dl:  # the unshifted comparison really differs: the offset matters
        assert np.abs(ours - hf).max() > 0.1


def test_to_tensor_and_normalize_match_torch_bit_for_bit():
    torch = pytest.importorskip("torch")
    pixels = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    # torchvision ToTensor: permute -> float -> div(255); Normalize: sub_(mean[:, None, None]).div_(std[...])
    ref = torch.from_numpy(pixels).permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    ref = ref.sub_(torch.as_tensor(CLIP_MEAN)[:, None, None]).div_(torch.as_tensor(CLIP_STD)[:, None, None])
    np.testing.assert_array_equal(preprocess(Image.fromarray(pixels)), ref.numpy())


@pytest.mark.parametrize("size, expected", [
    ((640, 427), (335, 224)), ((427, 640), (224, 335)), ((451, 300), (336, 224)),
    ((224, 224), (224, 224)), ((100, 50), (448, 224)), ((1000, 999), (224, 224)), ((300, 1000), (224, 746)),
])
def test_resized_size_follows_torchvision(size, expected):
    assert resized_size(*size) == expected  # int(224 * long / short): truncated, 1000x999 -> 224.22 -> 224


@pytest.mark.parametrize("spare, offset", [(0, 0), (1, 0), (2, 1), (3, 2), (5, 2), (7, 4), (111, 56)])
def test_center_crop_offsets_round_half_to_even(spare, offset):
    assert center_crop_box(224 + spare, 224) == (offset, 0, offset + 224, 224)
    assert center_crop_box(224, 224 + spare) == (0, offset, 224, offset + 224)


def test_center_crop_on_constructed_image_picks_the_right_pixels():
    # Pixel (row r, column c) holds (c, r, 7), so the crop's first pixel tells its offset. The short side is
    # already 224, so the resize is a no-op and only the centre crop acts.
    h, w = 229, 227
    cols = np.broadcast_to(np.arange(w, dtype=np.uint8)[None, :], (h, w))
    rows = np.broadcast_to(np.arange(h, dtype=np.uint8)[:, None], (h, w))
    pixels = np.stack([cols, rows, np.full((h, w), 7, np.uint8)], axis=-1)  # [229, 227, 3]
    wide = Image.fromarray(np.ascontiguousarray(pixels[:224, :227]))  # 227 x 224: spare 3 -> left round(1.5) = 2
    np.testing.assert_array_equal(preprocess(wide), _normalised(pixels[:224, 2:226]))
    tall = Image.fromarray(np.ascontiguousarray(pixels[:229, :224]))  # 224 x 229: spare 5 -> top round(2.5) = 2
    np.testing.assert_array_equal(preprocess(tall), _normalised(pixels[2:226, :224]))


def test_constant_colour_gives_exact_normalised_values():
    colour = (10, 128, 250)
    out = preprocess(Image.new("RGB", (300, 200), colour))  # resized 336x224 then cropped: still constant
    expected = (np.asarray(colour, np.float32) / np.float32(255) - MEAN[:, 0, 0]) / STD[:, 0, 0]
    for c in range(3):
        assert np.all(out[c] == expected[c]), (c, out[c].min(), out[c].max(), expected[c])
    # black and white give CLIP's well-known input range per channel
    black, white = preprocess(Image.new("RGB", (224, 224), 0)), preprocess(Image.new("RGB", (224, 224), "white"))
    for c in range(3):
        assert black[c, 0, 0] == pytest.approx(-CLIP_MEAN[c] / CLIP_STD[c], abs=1e-6)
        assert white[c, 0, 0] == pytest.approx((1 - CLIP_MEAN[c]) / CLIP_STD[c], abs=1e-6)
    assert black.min() == pytest.approx(-1.79226, abs=1e-5) and white.max() == pytest.approx(2.14590, abs=1e-5)


def test_grayscale_and_rgba_become_rgb():
    rng = np.random.default_rng(1)
    gray = Image.fromarray(rng.integers(0, 256, size=(250, 300), dtype=np.uint8), mode="L")
    out = preprocess(gray)
    assert out.shape == (3, 224, 224)
    np.testing.assert_array_equal(out, preprocess(gray.convert("RGB")))
    unnormalised = out * STD + MEAN
    np.testing.assert_allclose(unnormalised[0], unnormalised[1], atol=1e-6)
    np.testing.assert_allclose(unnormalised[0], unnormalised[2], atol=1e-6)

    rgb = Image.fromarray(rng.integers(0, 256, size=(250, 300, 3), dtype=np.uint8))
    opaque = rgb.copy()
    opaque.putalpha(255)
    np.testing.assert_array_equal(preprocess(opaque), preprocess(rgb))
    # CLIP drops alpha without compositing on a background: fully transparent pixels keep their stored colour
    square = Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8))
    transparent = square.copy()
    transparent.putalpha(0)
    np.testing.assert_array_equal(preprocess(transparent), preprocess(square))


def test_palette_images_follow_clip_order_or_hf_order(hf_processor):
    rng = np.random.default_rng(2)
    palette = Image.fromarray(rng.integers(0, 256, size=(300, 450, 3), dtype=np.uint8)).quantize(16)
    assert palette.mode == "P"
    # openai-clip resizes before converting, and PIL resizes "P" images nearest-neighbour
    expected = palette.resize((336, 224), Image.NEAREST).crop((56, 0, 280, 224)).convert("RGB")
    np.testing.assert_array_equal(preprocess(palette), _normalised(np.asarray(expected)))
    hf = hf_processor(images=palette, return_tensors="np")["pixel_values"][0]
    assert np.abs(preprocess(palette, convert_first=True) - hf).max() <= 1e-6
    assert np.abs(preprocess(palette) - hf).max() > 0.1


def test_batch_keeps_order_and_matches_single_images():
    paths = [DEMO / "rocket.jpg", DEMO / "cat.jpg"]
    batch = preprocess_batch([paths[0], load_image(paths[1])])
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[0], preprocess(paths[0]))
    np.testing.assert_array_equal(batch[1], preprocess(paths[1]))
    assert preprocess_batch([]).shape == (0, 3, 224, 224)
    assert preprocess_batch(paths[:1], n_px=336).shape == (1, 3, 336, 336)


def test_exif_orientation_ignored_by_default_as_in_clip(tmp_path):
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, size=(240, 320, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    assert load_image(path).size == (320, 240)
    upright = load_image(path, exif_transpose=True)
    assert upright.size == (240, 320)
    np.testing.assert_array_equal(preprocess(path, exif_transpose=True), preprocess(upright))
    assert np.abs(preprocess(path) - preprocess(upright)).max() > 0.1


def _assert_input_error_names(path: Path, call=load_image):
    with pytest.raises(InputError) as info:
        call(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_corrupt_truncated_and_non_image_files_raise_input_error(tmp_path):
    noise = tmp_path / "noise.jpg"
    noise.write_bytes(np.random.default_rng(4).integers(0, 256, size=5000, dtype=np.uint8).tobytes())
    assert "cannot be read" in _assert_input_error_names(noise)

    truncated = tmp_path / "truncated.jpg"
    data = (DEMO / "cat.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    assert "truncated" in _assert_input_error_names(truncated)

    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photograph\n", encoding="utf-8")
    _assert_input_error_names(text)
    _assert_input_error_names(text, preprocess)
    _assert_input_error_names(text, lambda p: preprocess_batch([DEMO / "cat.jpg", p]))

    assert "does not exist" in _assert_input_error_names(tmp_path / "missing.png")
    assert "folder" in _assert_input_error_names(tmp_path)


def test_iter_image_files_lists_images_only(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    for name in ["b.png", "a.JPG", "c.jpeg", "d.WebP", "e.bmp", "f.gif", "sub/g.png", "sub/deeper/h.jpg",
                 ".hidden/i.png"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(buf.getvalue())
    for name in ["notes.txt", "LICENSES.md", "image.jpg.txt", "archive.tiff.zip", "._a.JPG", ".DS_Store"]:
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / "folder.jpg").mkdir()  # a folder with an image-like name is not an image file

    flat = [p.relative_to(tmp_path).as_posix() for p in iter_image_files(tmp_path)]
    assert flat == ["a.JPG", "b.png", "c.jpeg", "d.WebP", "e.bmp", "f.gif"]
    deep = [p.relative_to(tmp_path).as_posix() for p in iter_image_files(str(tmp_path), recursive=True)]
    assert deep == flat + ["sub/deeper/h.jpg", "sub/g.png"]
    assert [p.name for p in iter_image_files(DEMO)] == DEMO_PHOTOS
    with pytest.raises(InputError, match="does not exist"):
        iter_image_files(tmp_path / "nope")
    with pytest.raises(InputError, match="is a file"):
        iter_image_files(tmp_path / "b.png")


def test_module_does_not_import_torch():
    code = "import sys, turkish_clip.images; sys.exit('torch' in sys.modules or 'torchvision' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


@pytest.mark.parametrize("step", ["decode", "exif"])
def test_out_of_memory_is_not_reported_as_a_corrupt_image(tmp_path, monkeypatch, step):
    path = tmp_path / "cat.jpg"
    path.write_bytes((DEMO / "cat.jpg").read_bytes())

    def out_of_memory(*args, **kwargs):
        raise MemoryError("cannot allocate the pixels")

    if step == "decode":
        monkeypatch.setattr(ImageFile.ImageFile, "load", out_of_memory)
    else:
        monkeypatch.setattr(ImageOps, "exif_transpose", out_of_memory)
    with pytest.raises(MemoryError, match="cannot allocate"):
        load_image(path, exif_transpose=True)


def test_decompression_bomb_is_a_bad_image(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 64×64 > 2 × 100: PIL refuses it as a bomb
    assert "DecompressionBombError" in _assert_input_error_names(path)
