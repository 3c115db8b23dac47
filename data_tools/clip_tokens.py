"""CLIP's text tokenisation (openai-clip's BPE, ftfy, lower case, SOT/EOT, 77-token context) as token-id lists.

Same ids as `clip.tokenize(texts, truncate=True)`: a caption longer than the context is cut and its last token
replaced by EOT, so the EOT feature is still what the text tower reads. Padding is left to the caller, which lets
a length-sorted batch be padded only up to its own longest caption.
"""
from __future__ import annotations

from typing import Sequence

import torch

from turkish_clip.clip_package import simple_tokenizer

CONTEXT_LENGTH = 77
SOT = "<|startoftext|>"
EOT = "<|endoftext|>"


class ClipTokenizer:
    """openai-clip's `SimpleTokenizer` with CLIP's SOT/EOT framing and truncation."""

    name = "openai-clip SimpleTokenizer (bpe_simple_vocab_16e6, ftfy, lower case)"

    def __init__(self, context_length: int = CONTEXT_LENGTH):
        self._bpe = simple_tokenizer().SimpleTokenizer()
        self.context_length = context_length
        self.sot_id = self._bpe.encoder[SOT]  # 49406
        self.eot_id = self._bpe.encoder[EOT]  # 49407
        self.vocab_size = len(self._bpe.encoder)  # 49408

    def encode(self, text: str) -> list[int]:
        """[SOT, bpe..., EOT], cut to the context length with EOT kept as the last token."""
        ids = [self.sot_id, *self._bpe.encode(text), self.eot_id]
        if len(ids) > self.context_length:
            ids = ids[: self.context_length]
            ids[-1] = self.eot_id
        return ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(text) for text in texts]


def pad(token_lists: Sequence[Sequence[int]], length: int | None = None) -> torch.Tensor:
    """Zero-pad id lists to `length` (default: the longest) -> int64 [n, length], as clip.tokenize pads."""
    longest = max((len(ids) for ids in token_lists), default=0)
    length = length or longest
    if length < longest:
        raise ValueError(f"cannot pad {longest} tokens into {length}")
    out = torch.zeros(len(token_lists), length, dtype=torch.long)  # [n, length]
    for row, ids in enumerate(token_lists):
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
