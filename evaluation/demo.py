"""A tiny retrieval set from the shipped demo photos: hand-written Turkish captions with their English originals.

Used by `make smoke`, the tests and the README example. Six images and twelve captions measure nothing about
quality; the set only shows that an evaluation runs end to end (`python -m evaluation retrieval --dataset
captions-tsv --captions <written file>`).
"""
from __future__ import annotations

from pathlib import Path

from inference_api.api import DEMO_IMAGES
# (image, Turkish caption, English caption); written by hand, two captions per image
DEMO_CAPTIONS = [
    ("astronaut.jpg", "Uzay giysisi içinde gülümseyen bir astronot.", "An astronaut smiling in a space suit."),
    ("astronaut.jpg", "Bayrağın önünde poz veren bir kadın astronot.", "A female astronaut posing in front of a flag."),
    ("cat.jpg", "Kameraya bakan tekir bir kedi.", "A tabby cat looking at the camera."),
    ("cat.jpg", "Yeşil gözlü kahverengi bir kedinin yakın çekimi.", "A close-up of a brown cat with green eyes."),
    ("coffee.jpg", "Tahta masada tabağıyla bir fincan kahve.", "A cup of coffee with its saucer on a wooden table."),
    ("coffee.jpg", "Köpüklü kahve dolu beyaz bir fincan.", "A white cup full of frothy coffee."),
    ("galaxies.jpg", "Karanlık uzayda binlerce uzak galaksi.", "Thousands of distant galaxies in dark space."),
    ("galaxies.jpg", "Hubble teleskobunun çektiği derin uzay görüntüsü.", "A deep space image taken by the Hubble telescope."),
    ("photographer.jpg", "Tripod üzerindeki fotoğraf makinesini kullanan bir adam.", "A man using a camera on a tripod."),
    ("photographer.jpg", "Çimenlerin üzerinde duran bir fotoğrafçının siyah beyaz fotoğrafı.",
     "A black and white photo of a photographer standing on the grass."),
    ("rocket.jpg", "Fırlatma rampasında duran bir roket.", "A rocket standing on the launch pad."),
    ("rocket.jpg", "Mavi gökyüzü altında beyaz bir uzay roketi.", "A white space rocket under a blue sky."),
]


def write_demo_captions(path: Path | str, image_dir: Path | str = DEMO_IMAGES) -> Path:
    """captions.tsv (header image, caption, en) with absolute image paths to the demo photos."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["image\tcaption\ten"] + [f"{Path(image_dir).resolve() / image}\t{tr}\t{en}"
                                      for image, tr, en in DEMO_CAPTIONS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
