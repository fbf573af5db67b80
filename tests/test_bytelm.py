"""The bundled byte-level language model: loading, logits, the prefix cache, and quality."""

from __future__ import annotations

import importlib.util
import json
import random
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bytegram.errors import BytegramError, InvalidArgument
from bytegram.models import ByteLM, ModelFileError
from bytegram.models.bytelm import DEFAULT_PATH, EOS_ID

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lm() -> ByteLM:
    return ByteLM.load()


def fresh() -> ByteLM:
    """A model with an empty cache: every call runs from the start of the sequence."""
    return ByteLM.load()


def make_corpus_module():
    path = REPO / "scripts" / "make_corpus.py"
    spec = importlib.util.spec_from_file_location("make_corpus", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bundled_file_is_small_npz_with_config():
    assert DEFAULT_PATH.is_file()
    assert DEFAULT_PATH.stat().st_size <= 5 * 1024 * 1024
    with np.load(DEFAULT_PATH, allow_pickle=False) as z:  # loads without pickle
        config = json.loads(z["__config__"].tobytes())
        assert all(z[k].dtype == np.float16 for k in z.files if k != "__config__")
    assert config["format"] == "bytegram-bytelm" and config["vocab_size"] == 257
    metrics = json.loads((DEFAULT_PATH.parent / "bytelm_metrics.json").read_text())
    assert metrics["heldout_bits_per_byte"] < metrics["baselines"]["unigram_bits_per_byte"]


def test_vocab_and_text_helpers(lm):
    v = lm.vocab
    assert v.size == 257 and v.eos_ids == (EOS_ID,)
    assert v.token_bytes[ord("{")] == b"{"
    ids = lm.encode('{"name": "Zoë"}')
    assert ids == list('{"name": "Zoë"}'.encode())
    assert lm.decode(ids + [EOS_ID, 65]) == '{"name": "Zoë"}'
    assert lm.decode(lm.encode("é")[:1]) == "\ufffd"


def test_logits_predict_json_structure(lm):
    out = lm.logits([[], lm.encode('{"name": '), lm.encode('{"id": 1, "price": 9.5}')])
    assert out.shape == (3, 257) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # after a key and colon comes a string value; after a complete document, the end
    assert int(out[1].argmax()) == ord('"')
    assert int(out[2].argmax()) == EOS_ID
    p = torch.softmax(out[0], -1)
    assert float(p[ord("{")]) > 0.2  # documents often start with an object


def test_incremental_logits_equal_uncached_forward(lm):
    lm.clear_cache()
    text = (b'Give me a user as JSON:\n'
            b'{"name": "Ada Lovelace", "age": 36, "email": "ada@example.org"}')
    ids = list(text)
    steps0 = lm.stats["steps"]
    cached = [lm.logits([ids[:n]])[0] for n in range(len(ids) + 1)]
    # one model step per token: the cache extends from the previous prefix
    assert lm.stats["steps"] - steps0 == len(ids)
    for n in (0, 1, 7, 24, len(ids) // 2, len(ids)):
        ref = fresh().logits([ids[:n]])[0]
        assert torch.allclose(cached[n], ref, atol=1e-4), n


def test_logits_match_the_torch_lstm_module(lm):
    # ByteLM runs the recurrence with plain matmuls; it must agree with nn.LSTM (training)
    rows = [list(b"{"), list(b'{"name": "Ada", "tags": ["x", "y"]}'), list(b"Date: 2024-")]
    got = fresh().logits(rows)
    for r, seq in enumerate(rows):
        x = torch.tensor([[lm.config["bos_id"], *seq]])
        with torch.no_grad():
            ref, _ = lm.net(x)
        assert torch.allclose(got[r], ref[0, -1], atol=1e-4), r


def test_long_extension_uses_checkpoints(lm):
    rng = random.Random(5)
    ids = list(json.dumps({"k%d" % i: rng.randint(0, 999) for i in range(40)}).encode())
    lm.clear_cache()
    a = lm.logits([ids[:150]])[0]
    steps0 = lm.stats["steps"]
    b = lm.logits([ids[:300]])[0]  # extends from the checkpoint at 128, not from 0
    assert lm.stats["steps"] - steps0 <= 300 - 128
    f = fresh()
    assert torch.allclose(a, f.logits([ids[:150]])[0], atol=1e-4)
    assert torch.allclose(b, fresh().logits([ids[:300]])[0], atol=1e-4)


def test_batch_equals_rows(lm):
    rows = [[], list(b'{"a": [1, 2'), list(b"Phone: +1-555"), list(b'{"a": [1, 2'),
            list(b'{"x": true}') + [EOS_ID] + list(b"{"), list("São Paulo".encode())]
    lm.clear_cache()
    lm.logits([rows[1][:3]])  # a cached prefix for one row only
    batch = lm.logits(rows)
    assert batch.shape == (len(rows), 257)
    for r, seq in enumerate(rows):
        assert torch.allclose(batch[r], fresh().logits([seq])[0], atol=1e-4), r
    assert torch.equal(batch[1], batch[3])


def test_returned_logits_do_not_alias_the_cache(lm):
    seq = list(b'{"ok": ')
    first = lm.logits([seq])
    expected = first.clone()
    first[:, :] = float("-inf")  # samplers mask in place
    assert torch.equal(lm.logits([seq]), expected)


def test_heldout_bits_per_byte_is_low():
    mc = make_corpus_module()
    docs = mc.documents(mc.DEFAULT_SEED, 400, heldout=True)  # 20 documents never trained on
    assert len(docs) == 20 and all(mc.is_heldout(i) for i in range(19, 400, 20))
    model = fresh()
    # one document at a time: single-row matmuls stay on one thread, so this test stays
    # fast on a machine whose cores are busy with other work
    bpb = model.bits_per_byte(docs, batch_size=1)
    # shipped model: 1.05 on these 20 documents, 1.04 on all 2,000 held-out ones;
    # uniform over the 257 ids would be 8.006, a byte unigram model 5.09
    assert bpb < 1.5, bpb
    # the model uses order: the same bytes shuffled cost far more
    rng = random.Random(0)
    shuffled = []
    for d in docs:
        b = list(d.encode())
        rng.shuffle(b)
        shuffled.append(bytes(b))
    assert model.bits_per_byte(shuffled, batch_size=1) > bpb + 2.0


def test_greedy_continuation_is_deterministic_json(lm):
    prompt = 'Give me a user as JSON:\n{"name": "'
    a = lm.sample(prompt, temperature=0, max_new_tokens=120)
    b = fresh().sample(prompt, temperature=0, max_new_tokens=120)
    assert a == b and len(a) > 5
    # the name string is closed and the object goes on with another key or ends
    assert '"' in a
    rest = a[a.index('"') + 1:]
    assert rest.startswith((",", "}")), a


def test_sampling_follows_seed(lm):
    s1 = lm.sample('{"name": ', temperature=0.8, seed=3, max_new_tokens=40)
    s2 = lm.sample('{"name": ', temperature=0.8, seed=3, max_new_tokens=40)
    assert s1 == s2 and s1


def test_bad_files_raise_typed_errors(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        ByteLM.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip file at all")
    with pytest.raises(ModelFileError):
        ByteLM.load(junk)
    noconf = tmp_path / "noconf.npz"
    np.savez(noconf, w=np.zeros(3, np.float16))
    with pytest.raises(ModelFileError, match="__config__"):
        ByteLM.load(noconf)
    # the real file with one weight removed
    broken = tmp_path / "broken.npz"
    with np.load(DEFAULT_PATH, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.pop("head.bias")
    np.savez(broken, **arrays)
    with pytest.raises(ModelFileError, match="head.bias"):
        ByteLM.load(broken)
    # truncated archive
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(DEFAULT_PATH.read_bytes()[:1000])
    with pytest.raises(ModelFileError):
        ByteLM.load(trunc)
    assert issubclass(ModelFileError, BytegramError) and issubclass(ModelFileError, ValueError)
    assert zipfile.is_zipfile(DEFAULT_PATH)


def test_bad_ids_raise_invalid_argument(lm):
    for bad in ([[257]], [[-1]], [["a"]], "abc", [b"abc"], [[1.5]]):
        with pytest.raises(InvalidArgument):
            lm.logits(bad)
    assert lm.logits([]).shape == (0, 257)


def test_does_not_touch_global_torch_state():
    threads = torch.get_num_threads()
    grad = torch.is_grad_enabled()
    model = fresh()
    model.logits([[1, 2, 3]])
    model.bits_per_byte(["{}"])
    assert torch.get_num_threads() == threads and torch.is_grad_enabled() == grad
