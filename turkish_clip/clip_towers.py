"""Load CLIP (text + image towers) from an OpenAI name/.pt checkpoint or a Hugging Face id/folder, without torchvision.

`load_clip()` returns an `OpenAIClip` or `HFClip`; both take CLIP token ids that may be padded only up to the longest
caption of a batch (`encode_tokens`), and preprocessed pixels (`encode_image`). Outputs are unnormalised.
"""
from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from importlib import metadata
from pathlib import Path


import torch

from turkish_clip.clip_package import clip_model
from turkish_clip.errors import ModelNotFoundError, UserError, model_not_found
from turkish_clip.hub import check_hub, download_hint, reachable

log = logging.getLogger(__name__)

# OpenAI's checkpoints, as listed in openai-clip's clip/clip.py (the folder name is the file's SHA256).
OPENAI_MODELS = {
    "RN50": "https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
    "RN101": "https://openaipublic.azureedge.net/clip/models/8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599/RN101.pt",
    "RN50x4": "https://openaipublic.azureedge.net/clip/models/7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd/RN50x4.pt",
    "RN50x16": "https://openaipublic.azureedge.net/clip/models/52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa/RN50x16.pt",
    "RN50x64": "https://openaipublic.azureedge.net/clip/models/be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c/RN50x64.pt",
    "ViT-B/32": "https://openaipublic.azureedge.net/clip/models/40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    "ViT-B/16": "https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
    "ViT-L/14": "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    "ViT-L/14@336px": "https://openaipublic.azureedge.net/clip/models/3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
}
DOWNLOAD_TIMEOUT_S = 20


def clip_cache_dir(download_root: str | os.PathLike | None = None) -> Path:
    """Where OpenAI checkpoints live: `download_root`, else $CLIP_CACHE, else ~/.cache/clip (as openai-clip)."""
    return Path(download_root or os.environ.get("CLIP_CACHE") or Path.home() / ".cache" / "clip").expanduser()


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes") for k in ("CLIP_OFFLINE", "HF_HUB_OFFLINE"))


def resolve_openai_checkpoint(name: str, download_root=None) -> Path:
    """The local .pt of an OpenAI model name, downloading it (SHA256-checked) if absent and online."""
    url = OPENAI_MODELS[name]
    target = clip_cache_dir(download_root) / os.path.basename(url)
    if target.is_file():
        return target
    hint = (f"Download {url} on a connected machine and pass the .pt path, or put it at {target} "
            f"(cache folder: download_root, $CLIP_CACHE or ~/.cache/clip).")
    if _offline():
        raise model_not_found("OpenAI CLIP checkpoint", name, hint + " Offline mode is on (CLIP_OFFLINE/HF_HUB_OFFLINE).",
                              hub=False)
    if not reachable(url):
        raise model_not_found("OpenAI CLIP checkpoint", name, f"{url} could not be reached (no network?). {hint}",
                              hub=False)
    partial = target.with_suffix(".pt.part")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as source, open(partial, "wb") as out:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != url.split("/")[-2]:
            raise OSError(f"SHA256 mismatch for {url}")
        os.replace(partial, target)
    except OSError as error:  # URLError, timeouts and disk errors are all OSError
        partial.unlink(missing_ok=True)
        raise model_not_found("OpenAI CLIP checkpoint", name, hint, error, hub=False) from error
    return target


def _openai_state_dict(path: Path) -> dict:
    """A TorchScript archive's state dict (OpenAI's format), or a plain saved state dict (as clip.load)."""
    try:
        return torch.jit.load(str(path), map_location="cpu").state_dict()
    except RuntimeError:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as error:  # unpickling errors come in many types; report the file either way
            raise UserError(f"{path} is neither an OpenAI CLIP TorchScript archive nor a state dict "
                            f"({type(error).__name__}); pass an OpenAI CLIP .pt file") from error
    return state.get("state_dict", state) if isinstance(state, dict) else state


def pick_device(device) -> torch.device:
    """The torch device to use: `device` checked (one-line UserError naming --device), else cuda when present."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(f"--device {device!r} is not a torch device; use cpu, cuda or cuda:N") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: this torch ({torch.__version__}) sees no CUDA GPU; use --device cpu "
                            f"or leave --device out") from None
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise UserError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA GPU(s); use cuda:0 "
                            f"to cuda:{torch.cuda.device_count() - 1}")
    elif chosen.type not in ("cpu", "mps"):
        raise UserError(f"--device {device}: {chosen.type} devices are not supported here; use cpu, cuda or cuda:N")
    elif chosen.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {device}: MPS is not available in this torch; use --device cpu")
    return chosen


class OpenAIClip:
    """openai-clip's `clip.model.CLIP`, with a text forward that runs only up to the batch's longest caption."""

    kind = "openai-clip"

    def __init__(self, model, model_id: str, device=None, fp16: bool | None = None):
        self.device = pick_device(device)
        fp16 = self.device.type == "cuda" if fp16 is None else fp16
        if fp16:  # as clip.load on GPU: fp16 linear/attention weights, LayerNorms and embeddings stay float32
            clip_model().convert_weights(model)
        else:
            model.float()
        self.model = model.to(self.device).eval()
        self.model_id = model_id
        self.dim = model.text_projection.shape[1]
        self.context_length = model.context_length
        self.input_resolution = model.visual.input_resolution
        self._causal = model.build_attention_mask().to(self.device)  # [77, 77], -inf above the diagonal

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @torch.inference_mode()
    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """`CLIP.encode_text` on ids [b, L] with L <= 77 (EOT = max id per row) -> float32 [b, dim].

        Causal attention: position t sees only positions <= t, so the EOT feature ignores the padding after it
        and slicing positions/mask to L changes nothing. Each block is ResidualAttentionBlock's own math (same
        modules); the last block is evaluated for the EOT rows only, the rows `encode_text` reads.
        """
        m = self.model
        tokens = tokens.to(self.device)
        batch, length = tokens.shape
        rows = torch.arange(batch, device=self.device)
        eot = tokens.argmax(dim=-1)  # [b], EOT has the highest id
        x = m.token_embedding(tokens).type(m.dtype)  # [b, L, width]
        x = x + m.positional_embedding[:length].type(m.dtype)
        x = x.permute(1, 0, 2)  # [L, b, width]
        mask = self._causal[:length, :length].to(x.dtype)  # [L, L]
        *blocks, last = m.transformer.resblocks
        for block in blocks:
            h = block.ln_1(x)
            x = x + block.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
            x = x + block.mlp(block.ln_2(x))
        # Last block: only the EOT rows are read, so only they query (keys up to their own position).
        h = last.ln_1(x)  # [L, b, width]
        x = x[eot, rows].unsqueeze(0)  # [1, b, width]
        after_eot = torch.arange(length, device=self.device)[None, :] > eot[:, None]  # [b, L], True = masked
        x = x + last.attn(h[eot, rows].unsqueeze(0), h, h, need_weights=False, key_padding_mask=after_eot)[0]
        x = x + last.mlp(last.ln_2(x))
        return (m.ln_final(x[0]).type(m.dtype) @ m.text_projection).float()  # [b, dim]

    @torch.inference_mode()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """CLIP's `encode_image` on normalised pixels [b, 3, R, R] -> float32 [b, dim] (unnormalised)."""
        return self.model.encode_image(pixels.to(self.device)).float()

    def versions(self) -> dict:
        return {"torch": torch.__version__, "openai-clip": package_version("openai-clip")}


class HFClip:
    """transformers' `CLIPModel`; its text tower is causal too, and takes ids trimmed to the longest caption."""

    kind = "hf-clip"

    def __init__(self, model, model_id: str, device=None, fp16: bool | None = None):
        self.device = pick_device(device)
        fp16 = self.device.type == "cuda" if fp16 is None else fp16
        model = model.half() if fp16 else model.float()
        self.model = model.to(self.device).eval()
        self.model_id = model_id
        self.dim = model.config.projection_dim
        self.context_length = model.config.text_config.max_position_embeddings
        self.input_resolution = model.config.vision_config.image_size

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @torch.inference_mode()
    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """`get_text_features` on CLIP ids [b, L] (zero-padded after EOT) -> float32 [b, dim]."""
        return self.model.get_text_features(input_ids=tokens.to(self.device)).float()

    @torch.inference_mode()
    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixel_values=pixels.to(self.device, self.dtype)).float()

    def versions(self) -> dict:
        return {"torch": torch.__version__, "transformers": package_version("transformers")}


def package_version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def is_openai_name_or_file(name_or_path: str | os.PathLike) -> bool:
    """True for an OpenAI model name (ViT-B/32, RN50, ...) or a path to a .pt file."""
    text = str(name_or_path)
    return text in OPENAI_MODELS or text.endswith(".pt") or Path(text).is_file()


def load_openai_clip(name_or_path, device=None, fp16=None, download_root=None) -> OpenAIClip:
    """OpenAI CLIP by name (cache/download) or .pt path, built with openai-clip's `build_model`."""
    text = str(name_or_path)
    if text in OPENAI_MODELS:
        path = resolve_openai_checkpoint(text, download_root)
    else:
        path = Path(text).expanduser()
        if not path.is_file():
            raise ModelNotFoundError(f"OpenAI CLIP checkpoint file {path} does not exist; pass an existing .pt path "
                                     f"or one of the names {', '.join(OPENAI_MODELS)}")
    try:
        model = clip_model().build_model(_openai_state_dict(path))
    except (KeyError, RuntimeError) as error:  # missing or mis-shaped CLIP weights
        raise UserError(f"{path} does not hold OpenAI CLIP weights ({type(error).__name__}: "
                        f"{str(error).splitlines()[0][:120]}); pass an OpenAI CLIP .pt file") from error
    log.info("loaded OpenAI CLIP %s from %s", text, path)
    return OpenAIClip(model, text, device=device, fp16=fp16)


def load_hf_clip(name_or_path, device=None, fp16=None) -> HFClip:
    """transformers `CLIPModel` from a hub id (cache or download) or a saved folder."""
    from transformers import CLIPModel

    text = str(name_or_path)
    if not Path(text).expanduser().is_dir():
        check_hub()
    try:
        model = CLIPModel.from_pretrained(text)
    except (OSError, ValueError) as error:  # hub offline/missing or an incomplete folder
        hint = f"Download it on a connected machine (`{download_hint(text)}`) and pass DIR instead of the name."
        raise model_not_found("Hugging Face CLIP model", text, hint, error) from error
    return HFClip(model, text, device=device, fp16=fp16)


def load_clip(name_or_path="ViT-B/32", device=None, fp16=None, download_root=None) -> OpenAIClip | HFClip:
    """CLIP's text and image towers: OpenAI name/.pt through openai-clip, anything else through transformers."""
    if is_openai_name_or_file(name_or_path):
        return load_openai_clip(name_or_path, device=device, fp16=fp16, download_root=download_root)
    return load_hf_clip(name_or_path, device=device, fp16=fp16)
