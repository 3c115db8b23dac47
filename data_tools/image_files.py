"""Find the image file of each caption image id in a folder the user gives, by the file names datasets use.

One walk of the folder (recursive, hidden names skipped) maps names to ids:
  COCO 2014   COCO_train2014_000000061844.jpg, COCO_val2014_….jpg  (in train2014/, val2014/ or anywhere below)
  COCO 2017   000000061844.jpg (any plain number: also custom sets named by image id)
  Flickr8k    1000268201_693b08cb0e.jpg: the Flickr photo number before "_" (TasvirEt uses the same files)
An id found under several names (a folder holding both COCO 2014 and 2017) takes the first in sorted path order.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

from turkish_clip.images import iter_image_files

log = logging.getLogger(__name__)

_PATTERNS = (
    re.compile(r"^COCO_[a-z]+\d{4}_0*(\d+)\.[A-Za-z]+$"),  # COCO 2014
    re.compile(r"^0*(\d+)\.[A-Za-z]+$"),  # COCO 2017, or any file named by its id
    re.compile(r"^(\d+)_[0-9a-f]+\.[A-Za-z]+$"),  # Flickr8k / Flickr30k-style photo files
)


def image_id_of(name: str) -> int | None:
    """The image id a file name stands for, or None when it follows none of the known naming schemes."""
    for pattern in _PATTERNS:
        match = pattern.match(name)
        if match:
            return int(match.group(1) or 0)
    return None


def index_image_folder(folder: str | Path) -> dict[int, Path]:
    """{image id: file} for every image file below `folder` whose name gives an id (see the module docstring)."""
    found: dict[int, Path] = {}
    unnamed = repeated = 0
    for path in iter_image_files(folder, recursive=True):  # sorted: the choice among repeats is stable
        image_id = image_id_of(path.name)
        if image_id is None:
            unnamed += 1
        elif image_id in found:
            repeated += 1
        else:
            found[image_id] = path
    log.info("%s: %d image files with an id, %d repeats of an id ignored, %d files without an id in their name",
             folder, len(found), repeated, unnamed)
    return found
