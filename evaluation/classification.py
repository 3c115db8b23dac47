"""Zero-shot classification test sets: a `labels.tsv` beside an image folder, or one sub-folder per class.

labels.tsv: `<image path><TAB><class>` per line, optional header `path<TAB>class` (or image/label). The class is
a name, or an integer index into the class list you pass. Relative paths resolve against the image folder (default:
the TSV's folder). Class order (= label index) is the `classes` you pass (e.g. a classes.txt, one name per line, or
the shipped CIFAR lists), else the sorted class names found.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from turkish_clip.errors import InputError
from turkish_clip.images import iter_image_files
from evaluation.datasets import SHOWN_MISSING, numbered_lines

log = logging.getLogger(__name__)

HEADERS = ({"path", "image", "image_path", "file", "filename"}, {"class", "label", "class_name", "category"})


@dataclass
class ClassificationSet:
    """Images with integer labels; `classes[label]` is the class name (or key) of each label."""

    name: str
    image_paths: list[Path]
    labels: list[int]
    classes: list[str]
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.image_paths) != len(self.labels):
            raise ValueError(f"{self.name}: {len(self.image_paths)} images but {len(self.labels)} labels")
        if self.labels and not 0 <= min(self.labels) <= max(self.labels) < len(self.classes):
            raise ValueError(f"{self.name}: labels outside 0..{len(self.classes) - 1}")

    def check_images(self) -> None:
        missing = [p for p in self.image_paths if not p.is_file()]
        if missing:
            shown = ", ".join(str(p) for p in missing[:SHOWN_MISSING])
            raise InputError(f"{self.name}: {len(missing)} of {len(self.image_paths)} images are missing "
                             f"(first: {shown}); check the image folder you passed")

    def info(self) -> dict:
        return {"name": self.name, "images": len(self.image_paths), "classes": len(self.classes),
                "source": {k: str(v) for k, v in self.source.items()}}


def read_class_list(path: Path | str) -> list[str]:
    """classes.txt: one class name per line in label order; '#' comments and blank lines skipped."""
    path = Path(path)
    names = [line.strip() for _, line in numbered_lines(path) if line.strip() and not line.startswith("#")]
    if not names:
        raise InputError(f"{path}: no class names; write one class name per line, in label order")
    if len(set(names)) != len(names):
        repeated = next(n for n in names if names.count(n) > 1)
        raise InputError(f"{path}: class {repeated!r} is listed twice; each class once, in label order")
    return names


def _label(path: Path, lineno: int, value: str, index: dict[str, int] | None, n_classes: int) -> int | str:
    if index is None:
        return value
    if value in index:
        return index[value]
    if value.isdigit() and int(value) < n_classes:
        return int(value)
    raise InputError(f"{path}: line {lineno}: class {value!r} is not one of the {n_classes} classes given "
                     f"(a name from the class list, or an index 0..{n_classes - 1}); fix the line")


def load_labels_tsv(path: Path | str, image_dir: Path | str | None = None, classes: list[str] | None = None,
                    name: str | None = None, check_images: bool = True) -> ClassificationSet:
    """Images and labels of a labels.tsv (format in the module docstring)."""
    path = Path(path)
    base = Path(image_dir) if image_dir is not None else path.parent
    index = {c: i for i, c in enumerate(classes)} if classes is not None else None
    rows: list[tuple[Path, int | str]] = []
    for lineno, line in numbered_lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if not rows and len(cells) == 2 and cells[0].lower() in HEADERS[0] and cells[1].lower() in HEADERS[1]:
            continue  # header
        if len(cells) != 2 or not all(cells):
            raise InputError(f"{path}: line {lineno}: expected '<image path><TAB><class>', found {line[:60]!r}; "
                             "fix the line")
        rows.append((base / cells[0], _label(path, lineno, cells[1], index, len(classes or []))))
    if not rows:
        raise InputError(f"{path}: no labelled images; expected lines '<image path><TAB><class>'")
    if classes is None:
        classes = sorted({str(label) for _, label in rows})
        index = {c: i for i, c in enumerate(classes)}
        rows = [(p, index[str(label)]) for p, label in rows]
    result = ClassificationSet(name=name or path.parent.name or path.stem, image_paths=[p for p, _ in rows],
                               labels=[int(label) for _, label in rows], classes=list(classes),
                               source={"labels": path})
    if check_images:
        result.check_images()
    log.info("%s: %d images, %d classes", result.name, len(rows), len(classes))
    return result


def load_image_folder(root: Path | str, classes: list[str] | None = None, name: str | None = None
                      ) -> ClassificationSet:
    """root/<class>/<image>: one sub-folder per class (hidden folders skipped); label order = `classes` or sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"image folder {root} does not exist or is not a folder; pass root/<class>/<images>")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise InputError(f"{root}: sub-folder {unknown[0]!r} is not one of the classes given; "
                         "rename it or pass the full class list")
    paths, labels = [], []
    for label, class_name in enumerate(classes):
        folder = root / class_name
        if folder.is_dir():
            images = list(iter_image_files(folder))
            paths += images
            labels += [label] * len(images)
    if not paths:
        raise InputError(f"{root}: no images found in class sub-folders; expected root/<class>/<image files>")
    empty = [c for c in classes if not (root / c).is_dir()]
    if empty:
        log.warning("%s: %d classes have no folder (first: %s)", root, len(empty), empty[0])
    log.info("%s: %d images, %d classes", root, len(paths), len(classes))
    return ClassificationSet(name=name or root.name, image_paths=paths, labels=labels, classes=list(classes),
                             source={"folder": root})
