"""Contact sheet: a self-contained HTML page with one thumbnail and score per result, best first."""
from __future__ import annotations

import base64
import io
import re

import pytest
from PIL import Image

from turkish_clip.errors import InputError
from inference_api.contact_sheet import THUMB_PX, write_contact_sheet
from tests.conftest import REPO

DEMO = sorted((REPO / "demo" / "images").glob("*.jpg"))


def test_page_has_query_thumbnails_and_scores(tmp_path):
    results = [(DEMO[1], 0.3125), (DEMO[0], 0.25), (DEMO[2], -0.01)]
    page = write_contact_sheet(tmp_path / "out" / "sheet.html", "kedi <ve> fincan", results).read_text("utf-8")
    assert "kedi &lt;ve&gt; fincan" in page and "<ve>" not in page
    assert re.findall(r"#(\d) · ([-0-9.]+)", page) == [("1", "0.3125"), ("2", "0.2500"), ("3", "-0.0100")]
    thumbs = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert len(thumbs) == 3
    for data in thumbs:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        assert image.format == "JPEG" and max(image.size) <= THUMB_PX
    assert page.index(DEMO[1].name) < page.index(DEMO[0].name) < page.index(DEMO[2].name)


def test_no_results_is_an_error(tmp_path):
    with pytest.raises(InputError):
        write_contact_sheet(tmp_path / "x.html", "kedi", [])
