"""transformers integration: a ``LogitsProcessor`` for ``model.generate`` and a
``LanguageModel`` adapter for bytegram's own decode loop (AWRS, SMC).

transformers is imported lazily (the ``transformers`` extra); nothing here changes global
torch settings.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..errors import InvalidArgument
from ..masks import CompiledGrammar, Vocabulary
from ..masks.matcher import Matcher
from ..samplers import apply_bitmask

__all__ = ["GrammarLogitsProcessor", "HFLanguageModel", "load_hf_model"]


class GrammarLogitsProcessor:
    """Masks a batch of logits to the tokens ``compiled`` allows, inside
    ``model.generate(logits_processor=[...])`` (greedy or sampling, any batch size).

    One matcher per row is created on the first call; later calls feed each row the tokens
    generated since. The model's logit width may exceed the vocabulary: padding ids are
    masked. Once a row has produced end-of-sequence, only end-of-sequence stays allowed (so
    transformers' padding of finished rows never meets an all -inf row). Beam search is not
    supported (beams reorder rows); a new ``generate`` call needs a new processor (or
    ``reset()``).
    """

    def __init__(self, compiled: CompiledGrammar) -> None:
        if not isinstance(compiled, CompiledGrammar):
            raise InvalidArgument(f"GrammarLogitsProcessor wants a CompiledGrammar, got "
                                  f"{type(compiled).__name__}")
        self.compiled = compiled
        self.matchers: list[Matcher] = []
        self._seen: list[int] = []
        self._bitmask: np.ndarray | None = None
        self._eos = [int(e) for e in compiled.eos_ids]

    def reset(self) -> None:
        """Forget the batch (call between ``generate`` runs)."""
        self.matchers = []
        self._seen = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        batch, width = scores.shape
        if not self.matchers:
            self.matchers = [self.compiled.matcher() for _ in range(batch)]
            self._seen = [input_ids.shape[1]] * batch
        elif len(self.matchers) != batch:
            raise InvalidArgument(f"batch size changed from {len(self.matchers)} to {batch}; "
                                  f"beam search is not supported, and a new generate() "
                                  f"call needs reset()")
        ids = input_ids.tolist()
        if self._bitmask is None or self._bitmask.shape != (batch, (width + 31) // 32):
            self._bitmask = np.zeros((batch, (width + 31) // 32), dtype=np.int32)
        bm = self._bitmask
        for row, m in enumerate(self.matchers):
            for tok in ids[row][self._seen[row]:]:
                if not m.is_terminated():
                    m.accept(int(tok))  # a refused token can only be post-EOS padding
            self._seen[row] = len(ids[row])
            if m.is_terminated():
                bm[row] = 0
                for e in self._eos:
                    bm[row, e >> 5] |= np.uint32(1 << (e & 31)).view(np.int32)
            else:
                m.fill_bitmask(bm, row)
        return apply_bitmask(scores, torch.from_numpy(bm).to(scores.device))


class HFLanguageModel:
    """The ``LanguageModel`` protocol over a transformers causal LM: ``logits(batch)``.

    Keeps the key/value cache of the previous call and reuses it when every sequence of
    the new batch extends its counterpart by one token (the decode loop's pattern); any
    other call runs a fresh forward pass with left padding.
    """

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.vocab = Vocabulary.from_hf(tokenizer)
        self._past: Any = None
        self._prev: list[tuple[int, ...]] | None = None
        self._mask: torch.Tensor | None = None
        self.device = next(model.parameters()).device

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    @torch.no_grad()
    def logits(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        seqs = [tuple(int(t) for t in s) for s in batch]
        if any(len(s) == 0 for s in seqs):
            bos = getattr(self.tokenizer, "bos_token_id", None)
            if bos is None:
                bos = self.vocab.eos_ids[0] if self.vocab.eos_ids else 0
            seqs = [s if s else (int(bos),) for s in seqs]
        if (self._prev is not None and self._past is not None and len(seqs) == len(self._prev)
                and all(len(s) == len(p) + 1 and s[:-1] == p for s, p in zip(seqs, self._prev))):
            new = torch.tensor([[s[-1]] for s in seqs], device=self.device)
            mask = torch.cat([self._mask, torch.ones((len(seqs), 1), dtype=self._mask.dtype,
                                                     device=self.device)], dim=1)
            pos = mask.sum(-1, keepdim=True) - 1
            out = self.model(input_ids=new, attention_mask=mask, position_ids=pos,
                             past_key_values=self._past, use_cache=True)
        else:
            longest = max(len(s) for s in seqs)
            pad = 0
            ids = torch.full((len(seqs), longest), pad, dtype=torch.long, device=self.device)
            mask = torch.zeros((len(seqs), longest), dtype=torch.long, device=self.device)
            for i, s in enumerate(seqs):
                ids[i, longest - len(s):] = torch.tensor(s, device=self.device)
                mask[i, longest - len(s):] = 1
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        self._past = out.past_key_values
        self._prev = seqs
        self._mask = mask
        return out.logits[:, -1, :].float()


def load_hf_model(path: str) -> tuple[Any, Any]:
    """A local transformers causal LM and its tokenizer (never downloads)."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise InvalidArgument("loading a transformers model needs `pip install "
                              "bytegram[transformers]`") from e
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    model.eval()
    return model, tok
