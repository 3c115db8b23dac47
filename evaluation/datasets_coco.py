"""COCO-image test sets: XTD10 (github.com/adobe-research/Cross-lingual-Test-Dataset-XTD10) and the COCO
Karpathy test split (dataset_coco.json), plus the Karpathy-JSON walker the Flickr loader shares."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator

from data_tools.captions import clean_text, read_json
from turkish_clip.errors import InputError
from data_tools.translation_import import read_translations
from evaluation.datasets import (RetrievalSet, caption_or_error, finish, group_by_image, numbered_lines,
                                 resolve)

XTD10_NAMES = "test_image_names.txt"
XTD10_CAPTIONS = "test_1kcaptions_{lang}.txt"
_COCO_NAME = re.compile(r"^COCO_((?:train|val|test)\d{4})_0*(\d+)\.(jpg|png)$")
SHOWN_IDS = 5


def coco_candidates(name: str) -> list[str]:
    """Where a COCO file name may sit under an image folder: <split>/<name>, or 2017-style <id:012d>.jpg."""
    match = _COCO_NAME.match(Path(name).name)
    if not match:
        return []
    split, image_id, ext = match.group(1), int(match.group(2)), match.group(3)
    new_name = f"{image_id:012d}.{ext}"
    return [f"{split}/{name}", new_name, f"train2017/{new_name}", f"val2017/{new_name}"]


def _caption_lines(path: Path) -> list[str]:
    lines = numbered_lines(path)
    while lines and not lines[-1][1].strip():  # a trailing blank line is not a caption
        lines.pop()
    return [caption_or_error(path, lineno, line) for lineno, line in lines]


def load_xtd10(folder: Path | str, image_dir: Path | str, lang: str = "tr", check_images: bool = True
               ) -> RetrievalSet:
    """XTD10: line i of test_1kcaptions_<lang>.txt describes the image on line i of test_image_names.txt.

    Images are looked up as image_dir/<name>, image_dir/train2014/<name> (the name's own split) or as 2017-style
    <id:012d>.jpg. test_1kcaptions_en.txt, when present, gives the aligned English captions (upper bound).
    """
    folder = Path(folder)
    names_path, captions_path = folder / XTD10_NAMES, folder / XTD10_CAPTIONS.format(lang=lang)
    names = [(n, line.strip()) for n, line in numbered_lines(names_path)]
    while names and not names[-1][1]:
        names.pop()
    for lineno, name in names:
        if not name or "\t" in name:
            raise InputError(f"{names_path}: line {lineno}: expected one image file name, found {name!r}; fix it")
    captions = _caption_lines(captions_path)
    if len(captions) != len(names):
        raise InputError(f"{captions_path}: {len(captions)} captions but {names_path} lists {len(names)} images; "
                         "line i of the captions file must describe image i")
    english_path = folder / XTD10_CAPTIONS.format(lang="en")
    english = None
    if lang != "en" and english_path.is_file():
        english = _caption_lines(english_path)
        if len(english) != len(names):
            raise InputError(f"{english_path}: {len(english)} captions but {names_path} lists {len(names)} images")
    keys, _, links = group_by_image((name, "") for _, name in names)
    if len(keys) != len(names):
        raise InputError(f"{names_path}: {len(names) - len(keys)} image names appear twice; XTD10 lists each "
                         "image once, check the file")
    source = {"names": names_path, "captions": captions_path, **({"english": english_path} if english else {})}
    result = RetrievalSet(name=f"xtd10-{lang}", lang=lang,
                          image_paths=[resolve(image_dir, k, coco_candidates) for k in keys],
                          captions=captions, caption_to_image=links, english=english,
                          english_to_image=list(links) if english else None, english_aligned=english is not None,
                          source=source, image_ids=_coco_ids(keys))
    return finish(result, check_images)


def _coco_ids(names: list[str]) -> list[int] | None:
    """COCO image ids from COCO_<split>_<id>.jpg names; None unless every name is one."""
    matches = [_COCO_NAME.match(Path(n).name) for n in names]
    return [int(m.group(2)) for m in matches] if matches and all(matches) else None


def karpathy_images(path: Path, split: str | None) -> Iterator[tuple[str, dict, list[tuple[int, str]]]]:
    """(image item name, image record, [(sentid, raw sentence)]) of a Karpathy-style JSON, for one split or all."""
    data: Any = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path}: no 'images' list; expected a Karpathy-style dataset_*.json")
    for i, image in enumerate(data["images"]):
        item = f"images[{i}]"
        if not isinstance(image, dict) or not isinstance(image.get("filename"), str):
            raise InputError(f"{path}: {item} has no 'filename'; expected a Karpathy-style dataset_*.json")
        if split is not None and image.get("split") != split:
            continue
        sentences = image.get("sentences")
        if not isinstance(sentences, list):
            raise InputError(f"{path}: {item} ({image['filename']}) has no 'sentences' list; fix the file")
        pairs = []
        for j, sentence in enumerate(sentences):
            raw = sentence.get("raw") if isinstance(sentence, dict) else None
            if not isinstance(raw, str):
                raise InputError(f"{path}: {item} ({image['filename']}) sentences[{j}]: 'raw' is missing or not "
                                 "a string; fix the file")
            sentid = sentence.get("sentid")
            pairs.append((sentid if isinstance(sentid, int) else -1, raw))
        yield item, image, pairs


def load_coco_karpathy(karpathy_json: Path | str, image_dir: Path | str, split: str = "test",
                       translations: Path | str | None = None, lang: str = "tr", check_images: bool = True
                       ) -> RetrievalSet:
    """COCO Karpathy split (5,000 test images, ~25,000 captions): English sentences, and with `translations`
    (a file keyed by caption_id = sentid, read by data_tools.translation_import) the target-language captions.

    Without translations the set is English (lang "en"). Images: image_dir/<filepath>/<filename> or
    image_dir/<filename>.
    """
    path = Path(karpathy_json)
    pairs, sentids, paths, cocoids = [], [], {}, {}
    for item, image, sentences in karpathy_images(path, split):
        if not isinstance(image.get("cocoid"), int):
            raise InputError(f"{path}: {item} has no integer 'cocoid'; expected dataset_coco.json "
                             "(use load_flickr for the Flickr files)")
        key = image["filename"]
        cocoids[key] = image["cocoid"]
        paths[key] = f"{image.get('filepath', '')}/{key}".lstrip("/")
        for sentid, raw in sentences:
            if sentid < 0:
                raise InputError(f"{path}: {item} ({key}): a sentence has no integer 'sentid'; fix the file")
            pairs.append((key, clean_text(raw)))
            sentids.append(sentid)
    keys, english, links = group_by_image(pairs)
    image_paths = [resolve(image_dir, paths[k], lambda rel: [Path(rel).name]) for k in keys]
    source: dict = {"karpathy": path}
    if translations is None:
        result = RetrievalSet(name=f"coco-karpathy-{split}-en", lang="en", image_paths=image_paths,
                              captions=english, caption_to_image=links, source=source,
                              image_ids=[cocoids[k] for k in keys])
        return finish(result, check_images)
    table = read_translations(translations, lang=lang)
    texts = dict(zip(table["caption_id"].tolist(), table["text"].tolist()))
    missing = [s for s in sentids if s not in texts]
    if missing:
        raise InputError(f"{translations}: no translation for {len(missing)} of {len(sentids)} {split} captions "
                         f"(caption_id = Karpathy sentid; first: {', '.join(map(str, missing[:SHOWN_IDS]))}); "
                         "translate them or pass a complete file")
    source["translations"] = Path(translations)
    result = RetrievalSet(name=f"coco-karpathy-{split}-{lang}", lang=lang, image_paths=image_paths,
                          captions=[texts[s] for s in sentids], caption_to_image=links, english=english,
                          english_to_image=list(links), english_aligned=True, source=source,
                          image_ids=[cocoids[k] for k in keys])
    return finish(result, check_images)
