"""Script-aware text clean-up with real Hindi and Turkish strings: NFC, nothing stripped, whitespace collapsed."""
from __future__ import annotations

import unicodedata

from data_tools.captions import clean_text as caption_clean_text
from turkish_clip.languages.text import clean_text, normalize_text

HINDI = "कैमरे की ओर देखती हुई एक धारीदार बिल्ली।"
TURKISH = "Iğdır'da ılık bir akşam, İstanbul'da ışıklı bir köprü."


def marks(text: str) -> list[str]:
    return [ch for ch in text if unicodedata.category(ch) in ("Mn", "Mc")]


def test_hindi_keeps_every_combining_mark():
    assert clean_text(HINDI) == HINDI
    # vowel signs (ै, ी, ो, ु, ा), virama (्) and anusvara (ं) are letters of the word, not accents
    text = "हिंदी में क्षत्रिय ज्ञान"
    assert clean_text(text) == text and marks(clean_text(text)) == marks(text) and len(marks(text)) == 10


def test_hindi_joiners_are_kept():
    half = "क्\u200dष"  # ZWJ: the half form of क
    explicit = "क्\u200cष"  # ZWNJ: an explicit virama, no conjunct
    assert clean_text(half) == half and clean_text(explicit) == explicit and half != explicit


def test_hindi_nukta_spellings_become_one():
    precomposed, decomposed = "\u0958", "\u0915\u093c"  # क़ as one code point / as क + nukta
    assert normalize_text(precomposed) == normalize_text(decomposed) == decomposed  # U+0958 is a composition exclusion
    assert clean_text(f"{precomposed}लम") == clean_text(f"{decomposed}लम") == "क़लम"


def test_turkish_dotted_and_dotless_i_are_four_letters():
    assert clean_text(TURKISH) == TURKISH
    cleaned = clean_text("ılık IĞDIR İzmir iğne")
    assert [ch for ch in cleaned if ch.lower() in "iı" or ch in "İI"] == ["ı", "ı", "I", "I", "İ", "i", "i"]
    assert clean_text("I\u0307zmir") == "İzmir"  # İ typed as I + combining dot above -> U+0130
    assert "\u0307" not in clean_text("I\u0307zmir")


def test_whitespace_and_mojibake_are_fixed_without_touching_letters():
    assert clean_text("  बिल्ली \n\t कुत्ता  ") == "बिल्ली कुत्ता"
    assert clean_text("  ılık\u00a0 şölen ") == "ılık şölen"
    assert clean_text("cafÃ© ılık") == "café ılık"  # UTF-8 read as Latin-1, fixed by ftfy
    assert caption_clean_text(f" {HINDI}  {TURKISH} ") == f"{HINDI} {TURKISH}"  # the captions step uses the same
