"""transformers integration on tiny randomly initialised models built locally (no download)."""

from __future__ import annotations

import functools
import re
import warnings

import pytest
import torch

import bytegram
from bytegram.integrations.transformers import GrammarLogitsProcessor, HFLanguageModel

transformers = pytest.importorskip("transformers")

from conftest import data_file  # noqa: E402

PATTERN = r"\{\"id\": [1-9][0-9]{0,3}, \"tag\": \"(alpha|beta|gamma)\"\}"


@functools.lru_cache(maxsize=None)
def _tokenizer(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tok = transformers.PreTrainedTokenizerFast(
            tokenizer_file=str(data_file("tokenizers", name, "tokenizer.json")))
    return tok


def _tiny_model(kind: str, vocab_size: int):
    torch.manual_seed(0)
    if kind == "llama":
        cfg = transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=32,
                                       intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=2,
                                       max_position_embeddings=256)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.GPT2Config(vocab_size=vocab_size, n_embd=32, n_layer=2, n_head=2,
                                      n_positions=256)
        model = transformers.GPT2LMHeadModel(cfg)
    return model.eval()


@pytest.mark.parametrize("tok_name,kind", [("gpt2", "gpt2"), ("qwen2.5", "llama")])
@pytest.mark.parametrize("do_sample", [False, True])
def test_logits_processor_batch(tok_name, kind, do_sample):
    tok = _tokenizer(tok_name)
    vocab = bytegram.Vocabulary.from_hf(tok)
    # logit width larger than the tokenizer: padding ids must stay masked
    model = _tiny_model(kind, vocab.size + 27)
    compiled = bytegram.compile(bytegram.Grammar.from_regex(PATTERN), vocab)
    proc = GrammarLogitsProcessor(compiled)
    eos = int(vocab.eos_ids[0])
    prompts = torch.tensor([[tok.encode("a")[0]]] * 4)
    out = model.generate(prompts, logits_processor=[proc], max_new_tokens=40,
                         do_sample=do_sample, eos_token_id=eos, pad_token_id=eos,
                         attention_mask=torch.ones_like(prompts))
    for row in out[:, 1:].tolist():
        assert eos in row, "every row must finish within the budget"
        text = vocab.decode(row[:row.index(eos)]).decode()
        assert re.fullmatch(PATTERN, text), text


def test_generate_with_hf_model_awrs_and_masked():
    tok = _tokenizer("gpt2")
    model = _tiny_model("gpt2", 50257 + 7)
    for sampler in ("awrs", "masked", "greedy"):
        res = bytegram.generate(model, ["x", "y"], regex=PATTERN, tokenizer=tok,
                                sampler=sampler, max_new_tokens=40, seed=1)
        for r in res:
            assert r.complete and re.fullmatch(PATTERN, r.text), (sampler, r.text)
            assert r.stats.tokens == len(r.token_ids) + 1  # + end-of-sequence


def test_hf_language_model_cache_matches_fresh_forward():
    tok = _tokenizer("gpt2")
    model = _tiny_model("llama", 50257)
    lm = HFLanguageModel(model, tok)
    seqs = [[10, 11, 12], [20, 21]]
    lm.logits(seqs)
    step = lm.logits([s + [5] for s in seqs])  # cached path
    fresh = HFLanguageModel(model, tok).logits([s + [5] for s in seqs])
    assert torch.allclose(step, fresh, atol=1e-4)
