"""Script-aware text clean-up, one definition for captions, translations, evaluation sets and inference input.

NFC (Unicode canonical composition) makes one spelling of each letter: Turkish "İ" typed as I + U+0307 becomes
U+0130, Hindi "क़" typed as U+0958 becomes क + nukta (U+0958 is a composition exclusion), so the tokenizer sees
the same ids for the same word. Nothing here lower-cases, strips accents or removes combining marks: Devanagari
vowel signs, virama, anusvara, nukta and the joiners ZWJ/ZWNJ (which choose conjunct forms) are letters of the
word, and Turkish i/ı/İ/I are four different letters (Python's `str.lower` maps "I" to "i" and "İ" to "i̇").
"""
from __future__ import annotations

import unicodedata


def normalize_text(text: str) -> str:
    """NFC only: the form every stored and encoded text is in."""
    return unicodedata.normalize("NFC", text)


def clean_text(text: str) -> str:
    """ftfy-fixed text (mojibake, terminal escapes, control characters) in NFC, whitespace stripped and runs of
    whitespace collapsed to one space. Combining marks, ZWJ/ZWNJ and Turkish dotted/dotless i are kept."""
    import ftfy

    return " ".join(normalize_text(ftfy.fix_text(text, normalization="NFC")).split())
