"""One-hidden-layer MLPs on pairs (a, b), as ``HookedRootModule``s.

Two inputs a and b (token ids < ``d_vocab``) are embedded separately, mapped into ``d_mlp`` hidden units,
passed through a ReLU and unembedded to ``d_vocab_out`` classes. With ``d_embed=None`` the inputs are one-hot
and the first layer acts on them directly (Bussmann 2023: one-hot 2p -> ReLU -> p); with ``d_embed=k``
each input has its own k-dimensional embedding first (Chughtai et al. 2023: embed 256 each, concatenate,
hidden 128, unembed). No biases in either anchor.

Weights (TransformerLens names, per input side)::

    W_E_a, W_E_b  [d_vocab, d_embed]   (absent when one-hot)
    W_in_a, W_in_b [d_embed or d_vocab, d_mlp]
    W_out         [d_mlp, d_vocab_out]

The hidden pre-activation is ``pre = T_a[a] + T_b[b]`` with ``T_x = W_E_x @ W_in_x`` a [d_vocab, d_mlp]
table computed once per step, so a step costs one gather and one [batch, d_mlp] x [d_mlp, d_vocab_out]
product. Hook points sit where TransformerLens puts them, so ``run_with_cache`` gives ``cache["pre", 0]``,
``cache["post", 0]`` (names ``blocks.0.mlp.hook_pre`` / ``hook_post``).
The model reads the first two columns of a task's rows (``[a, b, =]``), so it trains on the same tasks as
the transformers.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .hooks import HookedModel, Block
from .params import check_int


@dataclass
class MLPConfig:
    """A one-hidden-layer MLP on pairs; ``d_embed=None`` means one-hot inputs."""

    CODE_MODULES = ("mlp.py", "hooks.py")  # this model's code: part of the artifact store's key

    d_vocab: int = 113  # symbols per input
    d_vocab_out: int = 113
    d_mlp: int = 100
    d_embed: int | None = None  # None: one-hot inputs
    seed: int = 0

    def __post_init__(self):
        for name in ("d_vocab", "d_vocab_out", "d_mlp"):
            check_int(name, getattr(self, name), low=1)
        if self.d_embed is not None:
            check_int("d_embed", self.d_embed, low=1)

    @classmethod
    def for_task(cls, task, **kw) -> "MLPConfig":
        return cls(d_vocab=task.d_vocab_out, d_vocab_out=task.d_vocab_out, **kw)

    def spec(self) -> dict:
        return {"model": "MLP", **asdict(self)}

    def build(self) -> "MLP":
        return MLP.init(self)


class MLP(HookedModel):
    def __init__(self, cfg: MLPConfig):
        super().__init__()
        self.cfg = cfg
        d_in = cfg.d_vocab if cfg.d_embed is None else cfg.d_embed
        if cfg.d_embed is not None:
            self.W_E_a = nn.Parameter(torch.zeros(cfg.d_vocab, cfg.d_embed))
            self.W_E_b = nn.Parameter(torch.zeros(cfg.d_vocab, cfg.d_embed))
        self.W_in_a = nn.Parameter(torch.zeros(d_in, cfg.d_mlp))
        self.W_in_b = nn.Parameter(torch.zeros(d_in, cfg.d_mlp))
        self.W_out = nn.Parameter(torch.zeros(cfg.d_mlp, cfg.d_vocab_out))
        self.blocks = nn.ModuleList([Block(attn=False)])
        self.setup()

    @classmethod
    def init(cls, cfg: MLPConfig) -> "MLP":
        """PyTorch's default initializations (Embedding N(0, 1); Linear U(+-1/sqrt(fan_in))), seeded."""
        model = cls(cfg)
        g = torch.Generator().manual_seed(cfg.seed)
        with torch.no_grad():
            if cfg.d_embed is not None:
                model.W_E_a.normal_(generator=g)
                model.W_E_b.normal_(generator=g)
            fan_in = 2 * model.W_in_a.shape[0]  # the anchors' first Linear reads both inputs concatenated
            for w in (model.W_in_a, model.W_in_b):
                w.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=g)
            model.W_out.uniform_(-1 / math.sqrt(cfg.d_mlp), 1 / math.sqrt(cfg.d_mlp), generator=g)
        return model

    def tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(T_a, T_b) [d_vocab, d_mlp]: each input symbol's contribution to the hidden pre-activation."""
        if self.cfg.d_embed is None:
            return self.W_in_a, self.W_in_b
        return self.W_E_a @ self.W_in_a, self.W_E_b @ self.W_in_b

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, >= 2] (a, b first) -> logits [batch, d_vocab_out]."""
        a, b = tokens[:, 0], tokens[:, 1]
        hidden = self.blocks[0].mlp
        T_a, T_b = self.tables()
        pre = hidden.hook_pre(T_a.index_select(0, a) + T_b.index_select(0, b))  # [batch, d_mlp]
        post = hidden.hook_post(F.relu(pre))  # [batch, d_mlp]
        return post @ self.W_out  # [batch, d_vocab_out]


def with_weights(model: MLP, W_in_a=None, W_in_b=None, W_out=None) -> MLP:
    """A copy of a one-hot ``model`` with some weight matrices replaced."""
    new = MLP(model.cfg)
    new.load_state_dict(model.state_dict())
    with torch.no_grad():
        for name, value in (("W_in_a", W_in_a), ("W_in_b", W_in_b), ("W_out", W_out)):
            if value is not None:
                getattr(new, name).copy_(value)
    return new.eval()


def cosine_network(p: int, n_neurons: int, seed: int, amp_in: float = 1.0, amp_out: float = 1.0) -> MLP:
    """Bussmann's hand-built network: neuron i has a random frequency k_i and phases s1_i, s2_i, and

        W_in_a[a, i] = amp_in cos(w_i a + s1_i),   W_in_b[b, i] = amp_in cos(w_i b + s2_i),
        W_out[i, c]  = amp_out cos(w_i c + s1_i + s2_i),   w_i = 2 pi k_i / p.

    No training: ``logit(c) = sum_i relu(...) cos(w_i c + s1_i + s2_i)`` peaks at c = a + b mod p.
    """
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(1, p // 2 + 1, (n_neurons,), generator=g).double()
    s1, s2 = (torch.rand(n_neurons, generator=g, dtype=torch.float64) * 2 * math.pi for _ in range(2))
    x = torch.arange(p, dtype=torch.float64)[:, None]
    w = 2 * math.pi * k[None] / p
    model = MLP(MLPConfig(d_vocab=p, d_vocab_out=p, d_mlp=n_neurons, seed=seed))
    return with_weights(model, W_in_a=amp_in * torch.cos(w * x + s1), W_in_b=amp_in * torch.cos(w * x + s2),
                        W_out=(amp_out * torch.cos(w * x + s1 + s2)).T)
