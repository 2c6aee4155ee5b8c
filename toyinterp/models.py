"""Our fast models, and their conversion to TransformerLens 4 bridges.

``Transformer`` is a one-layer transformer with TransformerLens semantics (no
LayerNorm, ReLU MLP, attention scaled by 1/sqrt(d_head), causal, no biases) whose
weights carry TransformerLens names and shapes::

    W_E [d_vocab, d_model]        W_pos [n_ctx, d_model]
    W_Q, W_K, W_V [n_heads, d_model, d_head]      W_O [n_heads, d_head, d_model]
    W_in [d_model, d_mlp]         W_out [d_mlp, d_model]      W_U [d_model, d_vocab_out]

Every task in the book is scored at the last position only, so ``forward`` computes
only the last position's logits. It never runs the QKV projections row by row:
keys and value-times-output vectors depend only on (position, token), so they are
computed once per step for the whole vocabulary (tables of ``n_ctx * d_vocab``
rows) and gathered per row. That is where the speed comes from (``toyinterp.bench``
measures it against the bridge).

``to_bridge()`` returns a ``TransformerBridge`` booted with ``boot_native`` that
holds the same weights (biases zero); ``tests/test_models.py`` checks the two agree
to 1e-4 on every row of the task. ``Transformer.init(cfg)`` starts from the weights
``boot_native`` draws for ``cfg.seed`` (so a run of ours and a TransformerLens run
start from identical weights), or with ``cfg.init="nanda2023"`` from the progress-measures
paper's scheme (``nanda2023_init``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import einops
import torch
import torch.nn as nn
import torch.nn.functional as F

from .bitlinear import bit_input, check_mode, check_recipe, li2024_rms_norm, quantize_weight, resolve_recipe, rms_norm
from .hooks import HookedModel, Block
from .params import ParameterError, check_int


QUANTIZED = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_out")  # the BitLinear layers of a quantized model
INITS = ("boot_native", "nanda2023")  # TransformerConfig.init: where the starting weights come from


@dataclass
class TransformerConfig:
    """A one-layer transformer; field names follow TransformerLens."""

    CODE_MODULES = ("models.py", "bitlinear.py", "hooks.py")  # this model's code: part of the artifact store's key

    d_vocab: int = 114  # input tokens (p numbers and '=')
    d_vocab_out: int = 113  # classes
    n_ctx: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    attn_only: bool = False  # no MLP (the min-of-two model)
    freeze_pos: bool = False  # positional embeddings zeroed and never trained
    freeze_embed: bool = False  # token embeddings kept at their random initialization
    quant: str | None = None  # None (full precision), "binary" or "ternary": every W_Q..W_out is a BitLinear
    final_norm: bool = False  # an RMS norm (no gain) before the unembedding (the BitNet anchor needs one)
    # The recipe of the layers W_Q..W_out (toyinterp.bitlinear). None: "bitnet" when quant is set, else plain
    # linear layers. "bitnet" with quant=None: full-precision weights behind exactly the quantized models' input
    # norms and 8-bit activations (the fair control). "li2024": the BitNet anchor's own code (see li2024()).
    bitlinear: str | None = None
    final_norm_gain: bool = False  # the final norm as the anchor's RMSNorm: F.normalize(x) * sqrt(d) * learnable gain
    attn_scale: float | None = None  # None: scores / sqrt(d_head) (TransformerLens); the anchor: 1 / sqrt(d_model)
    seed: int = 999  # the initialization seed (the TL grokking demo's: 999)
    # "boot_native": the weights TransformerLens 4's boot_native draws for `seed` (what a TL run starts from).
    # "nanda2023": the progress-measures paper's scheme (see nanda2023_init), drawn from a generator seeded `seed`.
    init: str = "boot_native"

    def __post_init__(self):
        for name in ("d_vocab", "d_vocab_out", "n_ctx", "d_model", "n_heads", "d_head", "d_mlp"):
            check_int(name, getattr(self, name), low=1)
        check_mode(self.quant)
        check_recipe(self.bitlinear)
        if self.init not in INITS:
            raise ParameterError(f"init must be one of {INITS}, got {self.init!r}")
        if self.final_norm_gain and not self.final_norm:
            raise ParameterError("final_norm_gain needs final_norm=True")

    @property
    def recipe(self) -> str | None:
        """The BitLinear recipe in force for W_Q..W_out (None: plain linear layers)."""
        return resolve_recipe(self.quant, self.bitlinear)

    @classmethod
    def li2024(cls, task, quant: str | None, **kw) -> "TransformerConfig":
        """The BitNet anchor's model (Li 2024, ``bitnet/bit_transformer.py``: ``BitNetTransformer``) in our
        layout: its BitLinear recipe, its gained RMSNorm before the unembedding, no positional embedding (its
        ``forward`` has none: ``W_pos`` is frozen at zero) and attention scaled by ``dim ** -0.5`` of the model
        width. ``quant=None`` is its architecture at full precision."""
        kw = {"d_model": 128, **kw}
        return cls.for_task(task, quant=quant, bitlinear="li2024", final_norm=True, final_norm_gain=True,
                            freeze_pos=True, attn_scale=kw["d_model"] ** -0.5, **kw)

    @classmethod
    def for_task(cls, task, **kw) -> "TransformerConfig":
        """A config whose vocabulary and context match ``task``."""
        return cls(d_vocab=task.d_vocab, d_vocab_out=task.d_vocab_out, n_ctx=task.n_ctx, **kw)

    def spec(self) -> dict:
        return {"model": "Transformer", **asdict(self)}

    def activation_bytes(self, batch: int) -> int:
        """A rough upper estimate of the memory one training step on ``batch`` rows needs (float32 activations
        kept for the backward pass, and their gradients)."""
        per_row = 3 * self.n_ctx * self.n_heads * self.d_head + 4 * self.d_model + 3 * self.d_mlp + 3 * self.d_vocab_out
        return 2 * 4 * batch * per_row

    def build(self) -> "Transformer":
        """A freshly initialized model for this config (its ``init`` scheme's weights for ``seed``)."""
        return Transformer.init(self)

    def bridge_config(self):
        from transformer_lens.config import TransformerBridgeConfig

        return TransformerBridgeConfig(
            n_layers=1, d_model=self.d_model, d_head=self.d_head, n_heads=self.n_heads,
            d_mlp=None if self.attn_only else self.d_mlp, attn_only=self.attn_only,
            d_vocab=self.d_vocab, d_vocab_out=self.d_vocab_out, n_ctx=self.n_ctx,
            act_fn="relu", normalization_type=None, init_weights=True, seed=self.seed,
            device="cpu",
        )


def one_last_token(tokens: torch.Tensor) -> bool:
    """Whether every row of ``tokens`` [batch, n_ctx] ends in the same token (every task's '='): then the last
    position's query is one vector per head, which both forward paths exploit."""
    return bool((tokens[:, -1] == tokens[0, -1]).all())


def boot_bridge(cfg: TransformerConfig):
    """A freshly initialized TL4 bridge for ``cfg`` (biases zeroed, as in the seeds)."""
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_native(cfg.bridge_config())
    with torch.no_grad():
        for name, param in bridge.named_parameters():
            if name.endswith(".bias"):
                param.zero_()
    return bridge


def nanda2023_init(model: "Transformer", seed: int) -> None:
    """Nanda et al. 2023's initialization, in place: every weight matrix ``randn / sqrt(d_model)``, the
    unembedding ``randn / sqrt(d_vocab_out)``; no biases, norm gains left at one.

    Their code (``transformers.py`` of the progress-measures repository, the same in the grokking notebook)
    draws ``W_E``, ``W_pos``, ``W_Q``/``W_K``/``W_V``, ``W_O``, ``W_in`` and ``W_out`` as
    ``torch.randn(shape) / np.sqrt(d_model)`` and ``W_U`` as ``torch.randn(d_model, d_vocab) /
    np.sqrt(d_vocab)`` (their output vocabulary is p + 1 = 114, ours p: the scale differs by 0.4 %). Same
    distribution, not the same draws: we draw in our layout (TransformerLens shapes), in the order of
    ``named_parameters``, from ``torch.Generator().manual_seed(seed)``, not from torch's global generator.
    The expected sum of squares is ``measures.nanda_init_weight_norm(cfg)`` (1,781 for p = 113), about twice
    ``boot_native``'s draw.
    """
    g = torch.Generator().manual_seed(seed)
    c = model.cfg
    with torch.no_grad():
        for name, w in model.named_parameters():
            if w.dim() < 2:
                continue  # a norm gain
            fan = c.d_vocab_out if name == "W_U" else c.d_model
            w.copy_(torch.randn(w.shape, generator=g) / math.sqrt(fan))


class Transformer(HookedModel):
    """One-layer transformer, last-position logits, TransformerLens weight names.

    Hook points (last position only, the one every task scores): ``blocks.0.attn.hook_pattern``
    [batch, n_heads, 1, n_ctx], ``blocks.0.hook_resid_mid``, ``blocks.0.mlp.hook_pre`` / ``hook_post``
    [batch, d_mlp]. With ``cfg.quant`` (or ``cfg.bitlinear``) every matrix from ``W_Q`` to ``W_out`` is used
    through ``toyinterp.bitlinear`` (``effective(name)`` gives the quantized matrix); ``W_E``, ``W_pos`` and
    ``W_U`` stay full precision, as in the BitNet papers.
    """

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg
        self.W_E = nn.Parameter(torch.zeros(c.d_vocab, c.d_model), requires_grad=not c.freeze_embed)
        self.W_pos = nn.Parameter(torch.zeros(c.n_ctx, c.d_model), requires_grad=not c.freeze_pos)
        self.W_Q = nn.Parameter(torch.zeros(c.n_heads, c.d_model, c.d_head))
        self.W_K = nn.Parameter(torch.zeros(c.n_heads, c.d_model, c.d_head))
        self.W_V = nn.Parameter(torch.zeros(c.n_heads, c.d_model, c.d_head))
        self.W_O = nn.Parameter(torch.zeros(c.n_heads, c.d_head, c.d_model))
        if not c.attn_only:
            self.W_in = nn.Parameter(torch.zeros(c.d_model, c.d_mlp))
            self.W_out = nn.Parameter(torch.zeros(c.d_mlp, c.d_model))
        self.W_U = nn.Parameter(torch.zeros(c.d_model, c.d_vocab_out))
        if c.final_norm_gain:
            self.w_ln_final = nn.Parameter(torch.ones(c.d_model))  # the anchor's RMSNorm gain [d_model]
        self.blocks = nn.ModuleList([Block(mlp=not c.attn_only)])
        self.setup()

    @classmethod
    def init(cls, cfg: TransformerConfig) -> "Transformer":
        """A model with ``cfg.init``'s starting weights for ``cfg.seed``: ``boot_native``'s, or
        ``nanda2023_init``'s."""
        model = cls(cfg)
        if cfg.init == "nanda2023":
            nanda2023_init(model, cfg.seed)
        else:
            model.load_bridge_state(boot_bridge(cfg))
        if cfg.freeze_pos:
            with torch.no_grad():
                model.W_pos.zero_()
        return model

    # ---- the forward pass: last position only --------------------------------------
    def effective(self, name: str) -> torch.Tensor:
        """The matrix the forward pass uses for weight ``name``: quantized for a BitLinear, else the weight."""
        w = getattr(self, name)
        return quantize_weight(w, self.cfg.quant, self.cfg.recipe or "bitnet") if name in QUANTIZED else w

    def final(self, resid: torch.Tensor) -> torch.Tensor:
        """The final norm (the identity without ``final_norm``) [batch, d_model] -> [batch, d_model]."""
        if not self.cfg.final_norm:
            return resid
        return li2024_rms_norm(resid, self.w_ln_final) if self.cfg.final_norm_gain else rms_norm(resid)

    def _fused(self, tokens: torch.Tensor) -> bool:
        """Whether ``forward`` may take the fused path: plain layers, an MLP, no final norm, no hook on
        ``hook_resid_mid`` (the one activation the fused path never forms), and one last token for every row
        (the '=' of every task in the book)."""
        c = self.cfg
        return (c.recipe is None and not c.final_norm and not c.attn_only
                and not self.blocks[0].hook_resid_mid._forward_hooks
                and one_last_token(tokens))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, n_ctx] -> logits at the last position [batch, d_vocab_out]."""
        if self._fused(tokens):
            return self._forward_fused(tokens)
        c, recipe = self.cfg, self.cfg.recipe
        block = self.blocks[0]
        batch = tokens.shape[0]
        hd = c.n_heads * c.d_head
        W = {name: self.effective(name) for name in QUANTIZED if hasattr(self, name)}
        E = self.W_E[None] + self.W_pos[:, None]  # [n_ctx, d_vocab, d_model]: every (position, token)
        X = bit_input(E, recipe)  # what W_Q, W_K, W_V read (E itself for plain layers)
        flat = (torch.arange(c.n_ctx, device=tokens.device) * c.d_vocab + tokens).reshape(-1)
        X = X.reshape(c.n_ctx * c.d_vocab, c.d_model)
        # values of every (position, token), gathered per row: [batch, n_ctx, n_heads, d_head]
        v = ((X @ einops.rearrange(W["W_V"], "h m d -> m (h d)")).index_select(0, flat)
             .view(batch, c.n_ctx, c.n_heads, c.d_head))
        last = tokens[:, -1]
        resid = E[-1].index_select(0, last)  # resid_pre at the last position [batch, d_model]
        scale = 1 / math.sqrt(c.d_head) if c.attn_scale is None else c.attn_scale
        if one_last_token(tokens):
            # one last token (every task's '='): one query per head, so the scores of every (position, token)
            # are one small table X @ (W_K q), gathered per row -- no per-row queries or keys
            q = X[(c.n_ctx - 1) * c.d_vocab + last[0]] @ einops.rearrange(W["W_Q"], "h m d -> m (h d)")
            table = X @ torch.einsum("hmd,hd->mh", W["W_K"], q.view(c.n_heads, c.d_head))
            scores = table.index_select(0, flat).view(batch, c.n_ctx, c.n_heads) * scale
        else:
            k = ((X @ einops.rearrange(W["W_K"], "h m d -> m (h d)")).index_select(0, flat)
                 .view(batch, c.n_ctx, c.n_heads, c.d_head))
            x_last = X[(c.n_ctx - 1) * c.d_vocab:].index_select(0, last)
            q = (x_last @ einops.rearrange(W["W_Q"], "h m d -> m (h d)")).view(batch, 1, c.n_heads, c.d_head)
            scores = (q * k).sum(-1) * scale  # [batch, n_ctx, n_heads]
        # the last query sees every position: no causal mask needed
        pattern = block.attn.hook_pattern(scores.softmax(dim=1).transpose(1, 2).unsqueeze(2))  # [b, h, 1, n_ctx]
        z = (pattern.squeeze(2).transpose(1, 2).unsqueeze(-1) * v).sum(1)  # [batch, n_heads, d_head]
        W_O = einops.rearrange(W["W_O"], "h d m -> (h d) m")
        resid = block.hook_resid_mid(resid + bit_input(z.reshape(batch, hd), recipe) @ W_O)  # [batch, d_model]
        if c.attn_only:
            return self.final(resid) @ self.W_U
        post = block.mlp.hook_post(F.relu(block.mlp.hook_pre(bit_input(resid, recipe) @ W["W_in"])))
        if c.final_norm:
            return self.final(resid + bit_input(post, recipe) @ W["W_out"]) @ self.W_U
        # (post @ W_out) @ W_U computed as post @ (W_out @ W_U): d_vocab_out < d_model, fewer FLOPs
        return resid @ self.W_U + post @ (W["W_out"] @ self.W_U)

    def _forward_fused(self, tokens: torch.Tensor) -> torch.Tensor:
        """``forward`` for the plain model when every row ends in the same token (the grokking chapter).

        The last position's residual stream before attention is then one vector ``e``, so its query is one
        vector per head, the attention scores of every (position, token) are one small table
        ``E @ (W_K q)``, and ``e``'s direct contributions to the MLP input and the logits are bias rows. The
        attention output never forms ``resid_mid``: ``z`` is multiplied by ``W_O @ W_in`` and ``W_O @ W_U``.
        Same function as ``forward`` (``tests/test_models.py`` checks both against the bridge to 1e-4), other
        order of float operations, about a fifth fewer FLOPs per grokking step (``toyinterp.bench``).
        """
        c, block = self.cfg, self.blocks[0]
        batch, hd = tokens.shape[0], c.n_heads * c.d_head
        E = (self.W_E[None] + self.W_pos[:, None]).reshape(c.n_ctx * c.d_vocab, c.d_model)  # every (pos, token)
        flat = (torch.arange(c.n_ctx, device=tokens.device) * c.d_vocab + tokens).reshape(-1)
        e = E[(c.n_ctx - 1) * c.d_vocab + tokens[0, -1]]  # resid_pre at the last position, the same in every row
        q = torch.einsum("m,hmd->hd", e, self.W_Q)  # [n_heads, d_head]
        score_table = E @ torch.einsum("hmd,hd->mh", self.W_K, q) / math.sqrt(c.d_head)  # [n_ctx*d_vocab, h]
        scores = score_table.index_select(0, flat).view(batch, c.n_ctx, c.n_heads)
        v = (E @ einops.rearrange(self.W_V, "h m d -> m (h d)")).index_select(0, flat)
        pattern = block.attn.hook_pattern(scores.softmax(dim=1).transpose(1, 2).unsqueeze(2))  # [b, h, 1, n_ctx]
        z = (pattern.squeeze(2).transpose(1, 2).unsqueeze(-1) * v.view(batch, c.n_ctx, c.n_heads, c.d_head)).sum(1)
        z = z.reshape(batch, hd)
        W_O = einops.rearrange(self.W_O, "h d m -> (h d) m")
        pre = torch.addmm(e @ self.W_in, z, W_O @ self.W_in)  # [batch, d_mlp]
        post = block.mlp.hook_post(F.relu(block.mlp.hook_pre(pre)))
        direct = torch.addmm(e @ self.W_U, z, W_O @ self.W_U)  # resid_mid @ W_U  [batch, d_vocab_out]
        return torch.addmm(direct, post, self.W_out @ self.W_U)

    # ---- TransformerLens 4 -----------------------------------------------------------
    def bridge_state(self) -> dict[str, torch.Tensor]:
        """Our weights under the bridge's ``state_dict`` keys."""
        c = self.cfg
        sd = {
            "embed.weight": self.W_E,
            "pos_embed.weight": self.W_pos,
            "blocks.0.attn.q.weight": einops.rearrange(self.W_Q, "h m d -> (h d) m"),
            "blocks.0.attn.k.weight": einops.rearrange(self.W_K, "h m d -> (h d) m"),
            "blocks.0.attn.v.weight": einops.rearrange(self.W_V, "h m d -> (h d) m"),
            "blocks.0.attn.o.weight": einops.rearrange(self.W_O, "h d m -> m (h d)"),
            "unembed.weight": self.W_U.T,
        }
        if not c.attn_only:
            sd["blocks.0.mlp.in.weight"] = self.W_in.T
            sd["blocks.0.mlp.out.weight"] = self.W_out.T
        return {k: v.detach().contiguous() for k, v in sd.items()}

    def load_bridge_state(self, bridge) -> None:
        """Copy a bridge's weights into ours (the inverse of ``bridge_state``)."""
        sd = bridge.state_dict()
        h = self.cfg.n_heads
        with torch.no_grad():
            self.W_E.copy_(sd["embed.weight"])
            self.W_pos.copy_(sd["pos_embed.weight"])
            for name, key in (("W_Q", "q"), ("W_K", "k"), ("W_V", "v")):
                w = einops.rearrange(sd[f"blocks.0.attn.{key}.weight"], "(h d) m -> h m d", h=h)
                getattr(self, name).copy_(w)
            self.W_O.copy_(einops.rearrange(sd["blocks.0.attn.o.weight"], "m (h d) -> h d m", h=h))
            if not self.cfg.attn_only:
                self.W_in.copy_(sd["blocks.0.mlp.in.weight"].T)
                self.W_out.copy_(sd["blocks.0.mlp.out.weight"].T)
            self.W_U.copy_(sd["unembed.weight"].T)

    def to_bridge(self, device: str | torch.device | None = None):
        """A TL4 ``TransformerBridge`` with our weights: ``run_with_cache``, ``W_E``, ``OV``, ``QK``."""
        c = self.cfg
        if c.quant is not None or c.final_norm or c.bitlinear is not None or c.attn_scale is not None:
            raise ParameterError("a BitLinear model (quant / bitlinear / final_norm / attn_scale) has no "
                                 "TransformerBridge equivalent: "
                                 "analyse it with its own run_with_cache and effective() weights")
        bridge = boot_bridge(self.cfg)
        sd = bridge.state_dict()
        for key, value in self.bridge_state().items():
            if key not in sd or sd[key].shape != value.shape:
                raise ParameterError(f"bridge has no weight {key} of shape {tuple(value.shape)}")
            sd[key] = value.cpu()
        sd = {k: (torch.zeros_like(v) if k.endswith(".bias") else v) for k, v in sd.items()}
        bridge.load_state_dict(sd)
        bridge.eval()
        return bridge.to(device) if device is not None else bridge

