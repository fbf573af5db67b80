"""The embedded byte-level language model: a small LSTM over bytes, shipped with bytegram.

Vocabulary: the 256 bytes (id = byte value) plus end-of-sequence, id 256
(``Vocabulary.byte_level(eos_id=256)``). An extra input-only id, 257, is the beginning of
sequence: every sequence starts from the zero state fed with BOS, so the empty prefix is a
valid input and gives the distribution of a document's first byte.

The weights live in ``bytegram/models/bytelm.npz`` (numpy, no pickle): float16 arrays named as
in ``ByteLSTM.state_dict()`` plus ``__config__``, the UTF-8 bytes of a JSON object (the
architecture and training facts). They are trained by ``scripts/train_bytelm.py`` on the
synthetic corpus of ``scripts/make_corpus.py``; arithmetic is float32.

``ByteLM.logits(batch)`` is the ``LanguageModel`` protocol of the samplers. Decoding is
incremental: the recurrent state after each prefix the model has seen is kept in an LRU
cache keyed by the prefix, and a call extends each sequence from its longest cached prefix
(the exact sequence, then up to ``lookback`` shorter ones, then checkpoints that are kept every
``checkpoint_every`` bytes), so generating N tokens costs N model steps, and all rows of a
batch advance in one batched forward pass.
"""

from __future__ import annotations

import json
import math
import operator
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import BytegramError, InvalidArgument
from ..masks.vocab import Vocabulary

__all__ = ["ByteLM", "ByteLSTM", "ModelFileError", "DEFAULT_PATH", "EOS_ID", "BOS_ID",
           "VOCAB_SIZE", "save_npz", "load_npz"]

#: Where the bundled weights live.
DEFAULT_PATH = Path(__file__).resolve().parent / "bytelm.npz"
#: Output vocabulary: 256 bytes + end of sequence.
VOCAB_SIZE = 257
EOS_ID = 256
#: Input-only beginning-of-sequence id (never produced, never accepted in ``logits`` input).
BOS_ID = 257
FORMAT = "bytegram-bytelm"
FORMAT_VERSION = 1
_CONFIG_KEY = "__config__"


class ModelFileError(BytegramError, ValueError):
    """The model file is missing, unreadable, corrupt, or not a bytegram ByteLM file."""


class ByteLSTM(nn.Module):
    """Embedding -> multi-layer LSTM -> linear head over the 257 output ids.

    ``forward(x, state)`` takes int64 ids ``[B, T]`` (0..257) and an optional ``(h, c)`` pair
    ``[layers, B, hidden]``; returns logits ``[B, T, 257]`` and the new state.
    """

    def __init__(self, *, embed_dim: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.embed_dim, self.hidden, self.layers = embed_dim, hidden, layers
        self.embed = nn.Embedding(VOCAB_SIZE + 1, embed_dim)  # + BOS
        self.lstm = nn.LSTM(embed_dim, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, VOCAB_SIZE)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        out, new_state = self.lstm(self.embed(x), state)
        return self.head(out), new_state

    def config(self) -> dict[str, Any]:
        return {"arch": "lstm", "embed_dim": self.embed_dim, "hidden": self.hidden,
                "layers": self.layers, "vocab_size": VOCAB_SIZE, "eos_id": EOS_ID,
                "bos_id": BOS_ID}


def save_npz(net: ByteLSTM, path: str | Path, *, extra: dict[str, Any] | None = None,
             dtype: Any = np.float16) -> dict[str, Any]:
    """Write ``net``'s weights as ``dtype`` arrays plus the JSON config to ``path`` (npz)."""
    config = {"format": FORMAT, "format_version": FORMAT_VERSION, **net.config(),
              "weight_dtype": np.dtype(dtype).name, **(extra or {})}
    arrays = {k: v.detach().cpu().numpy().astype(dtype) for k, v in net.state_dict().items()}
    arrays[_CONFIG_KEY] = np.frombuffer(json.dumps(config, sort_keys=True).encode(), np.uint8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return config


def load_npz(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a ByteLM npz: ``(config, arrays)``; ModelFileError when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file not found: {str(path)!r} (the bundled weights are "
                             "made by scripts/train_bytelm.py)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, KeyError) as e:
        raise ModelFileError(f"{str(path)!r} is not a readable numpy .npz file: {e}") from e
    except Exception as e:  # zipfile.BadZipFile and friends
        raise ModelFileError(f"{str(path)!r} is not a readable numpy .npz file: "
                             f"{type(e).__name__}: {e}") from e
    raw = arrays.pop(_CONFIG_KEY, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{str(path)!r} has no {_CONFIG_KEY} entry: not a bytegram "
                             "ByteLM file")
    try:
        config = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{str(path)!r}: {_CONFIG_KEY} is not JSON: {e}") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r}: config format is "
                             f"{config.get('format') if isinstance(config, dict) else config!r}"
                             f", expected {FORMAT!r}")
    if config.get("format_version") != FORMAT_VERSION or config.get("arch") != "lstm":
        raise ModelFileError(f"{str(path)!r}: unsupported model version "
                             f"{config.get('format_version')!r} / arch {config.get('arch')!r}")
    return config, arrays


def _build(config: dict[str, Any], arrays: dict[str, np.ndarray], source: str) -> ByteLSTM:
    try:
        net = ByteLSTM(embed_dim=int(config["embed_dim"]), hidden=int(config["hidden"]),
                       layers=int(config["layers"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{source}: bad model config {config!r}: {e}") from e
    expected = net.state_dict()
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(set(arrays) - set(expected))
    if missing or unexpected:
        raise ModelFileError(f"{source}: weights do not match the config: missing {missing}, "
                             f"unexpected {unexpected}")
    state = {}
    for k, ref in expected.items():
        a = arrays[k]
        if tuple(a.shape) != tuple(ref.shape) or a.dtype.kind != "f":
            raise ModelFileError(f"{source}: weight {k!r} has shape {a.shape} dtype {a.dtype}, "
                                 f"expected {tuple(ref.shape)} float")
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        if not torch.isfinite(t).all():
            raise ModelFileError(f"{source}: weight {k!r} has non-finite values")
        state[k] = t
    net.load_state_dict(state)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


_Entry = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # h [L,H], c [L,H], logits [V]


class ByteLM:
    """The bundled byte-level language model (see the module docstring).

    ``ByteLM.load(path=None)`` reads the weights; ``logits(batch)`` gives float32 next-token
    logits ``[len(batch), 257]`` after each id list (ids 0..256); ``encode``/``decode`` map
    text to byte ids and back; ``sample(prompt)`` is a plain unconstrained sampler.
    Thread-safe: the prefix cache is guarded by a lock. Never changes torch's global settings.

    Cache options: ``cache_size`` (max cached prefixes, LRU), ``lookback`` (how many shorter
    prefixes to try before the checkpoints), ``checkpoint_every`` (also cache the state at
    every multiple of this length while running long extensions).
    """

    def __init__(self, net: ByteLSTM, config: dict[str, Any], *, cache_size: int = 8192,
                 lookback: int = 8, checkpoint_every: int = 64,
                 path: str | None = None) -> None:
        for name, v, lo in (("cache_size", cache_size, 1), ("lookback", lookback, 0),
                            ("checkpoint_every", checkpoint_every, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise InvalidArgument(f"{name} must be an int >= {lo}, got {v!r}")
        self.net = net
        self.config = dict(config)
        self.path = path
        self.cache_size = cache_size
        self.lookback = lookback
        self.checkpoint_every = checkpoint_every
        self._vocab = Vocabulary.byte_level(eos_id=EOS_ID)
        self._lock = threading.RLock()
        self._cache: OrderedDict[tuple[int, ...], _Entry] = OrderedDict()
        self.stats = {"calls": 0, "rows": 0, "hits": 0, "steps": 0}
        # the recurrence is run with plain matmuls (see _forward): per layer W_ih^T, W_hh^T
        # and the summed biases
        lstm = net.lstm
        self._layers = [
            (getattr(lstm, f"weight_ih_l{k}").detach().t().contiguous(),
             getattr(lstm, f"weight_hh_l{k}").detach().t().contiguous(),
             (getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")).detach())
            for k in range(net.layers)]
        with torch.no_grad():
            zeros = torch.zeros(net.layers, 1, net.hidden)
            h, c, _ = self._forward(torch.tensor([[BOS_ID]]), [1], zeros, zeros)
            self._root: _Entry = (h[:, 0].clone(), c[:, 0].clone(),
                                  net.head(h[-1, 0]).float().clone())

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, path: str | Path | None = None, **options: Any) -> "ByteLM":
        """Load the bundled weights (or the ByteLM npz at ``path``).

        Raises ModelFileError (a BytegramError and ValueError) when the file is missing,
        corrupt or of another format.
        """
        p = DEFAULT_PATH if path is None else Path(path)
        config, arrays = load_npz(p)
        return cls(_build(config, arrays, repr(str(p))), config, path=str(p), **options)

    @property
    def vocab(self) -> Vocabulary:
        """``Vocabulary.byte_level(eos_id=256)``: id = byte value, 256 = end of sequence."""
        return self._vocab

    @property
    def eos_id(self) -> int:
        return EOS_ID

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    # ------------------------------------------------------------------ text helpers
    @staticmethod
    def encode(text: str | bytes) -> list[int]:
        """UTF-8 bytes of ``text`` as ids (bytes are taken as they are)."""
        if isinstance(text, (bytes, bytearray, memoryview)):
            return list(bytes(text))
        if not isinstance(text, str):
            raise InvalidArgument(f"encode takes a str or bytes, got {type(text).__name__}")
        return list(text.encode("utf-8"))

    @staticmethod
    def decode(ids: Iterable[int]) -> str:
        """Text of the byte ids up to the first end-of-sequence (invalid UTF-8 -> U+FFFD)."""
        out = bytearray()
        for i in ids:
            i = int(i)
            if i == EOS_ID:
                break
            if not 0 <= i < 256:
                raise InvalidArgument(f"decode: id {i} is not a byte (0..255) or EOS (256)")
            out.append(i)
        return out.decode("utf-8", errors="replace")

    # ------------------------------------------------------------------ cache
    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    def cache_len(self) -> int:
        return len(self._cache)

    def _put(self, key: tuple[int, ...], entry: _Entry) -> None:
        cache = self._cache
        cache[key] = entry
        cache.move_to_end(key)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _find(self, seq: list[int]) -> tuple[int, _Entry]:
        """Longest cached prefix of ``seq``: (its length, its entry)."""
        cache = self._cache
        n = len(seq)
        for k in range(n, max(-1, n - self.lookback - 1), -1):
            if k == 0:
                return 0, self._root
            key = tuple(seq[:k])
            entry = cache.get(key)
            if entry is not None:
                cache.move_to_end(key)
                return k, entry
        step = self.checkpoint_every
        k = ((n - self.lookback - 1) // step) * step
        while k > 0:
            key = tuple(seq[:k])
            entry = cache.get(key)
            if entry is not None:
                cache.move_to_end(key)
                return k, entry
            k -= step
        return 0, self._root

    # ------------------------------------------------------------------ model
    def _check(self, batch: Any) -> list[list[int]]:
        if isinstance(batch, torch.Tensor):
            batch = batch.tolist()
        elif isinstance(batch, np.ndarray):
            batch = batch.tolist()
        if isinstance(batch, (str, bytes)) or not isinstance(batch, Sequence):
            raise InvalidArgument(f"logits takes a list of id lists, got "
                                  f"{type(batch).__name__}")
        rows: list[list[int]] = []
        for r, seq in enumerate(batch):
            if isinstance(seq, (torch.Tensor, np.ndarray)):
                seq = seq.tolist()
            if isinstance(seq, (str, bytes)) or not isinstance(seq, Iterable):
                raise InvalidArgument(f"logits: row {r} must be a list of ids, got "
                                      f"{type(seq).__name__}")
            try:
                row = [operator.index(i) for i in seq]
            except TypeError:
                raise InvalidArgument(f"logits: row {r} has a non-integer id") from None
            for i in row:
                if not 0 <= i <= EOS_ID:
                    raise InvalidArgument(f"logits: row {r} has id {i}; ids are bytes 0..255 "
                                          f"and EOS {EOS_ID}")
            rows.append(row)
        return rows

    def logits(self, batch: Sequence[Sequence[int]]) -> torch.Tensor:
        """Next-token logits after each id list: float32 ``[len(batch), 257]`` (a new tensor,
        safe to modify in place)."""
        rows = self._check(batch)
        if not rows:
            return torch.empty((0, VOCAB_SIZE), dtype=torch.float32)
        with self._lock, torch.no_grad():
            self.stats["calls"] += 1
            self.stats["rows"] += len(rows)
            results: list[_Entry | None] = [None] * len(rows)
            # identical rows are computed once
            todo: dict[tuple[int, ...], list[int]] = {}
            for r, seq in enumerate(rows):
                todo.setdefault(tuple(seq), []).append(r)
            work = []  # (key, start, entry)
            for key, rs in todo.items():
                start, entry = self._find(rows[rs[0]])
                if start == len(key):
                    self.stats["hits"] += 1
                    for r in rs:
                        results[r] = entry
                else:
                    work.append((key, start, entry))
            if work:
                for key, entry in self._extend(work).items():
                    for r in todo[key]:
                        results[r] = entry
            return torch.stack([e[2] for e in results])  # type: ignore[index]

    def _forward(self, x: torch.Tensor, lengths: Sequence[int], h0: torch.Tensor,
                 c0: torch.Tensor, *, outputs: bool = False
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Run the LSTM over ids ``x`` ``[B, T]`` from state ``(h0, c0)`` ``[L, B, H]``; row b
        stops after ``lengths[b]`` ids. Returns the state at each row's end and, with
        ``outputs``, the last layer's outputs ``[B, T, H]``.

        Written with matmuls and pointwise ops instead of ``nn.LSTM``: on CPU ``nn.LSTM``
        goes through oneDNN's threaded RNN kernel, whose per-step thread hand-offs cost
        tens of milliseconds a step when another process keeps the cores busy; this loop
        costs about the same as ``nn.LSTM`` on an idle machine and stays fast on a busy one.
        Same arithmetic (PyTorch's gate order i, f, g, o).
        """
        B, T = x.shape
        H = self.net.hidden
        ragged = min(lengths) < T
        if ragged:
            active = torch.arange(T).unsqueeze(0) < torch.tensor(list(lengths)).unsqueeze(1)
        inp = self.net.embed(x)
        hs, cs = [], []
        out = None
        for k, (w_ih, w_hh, bias) in enumerate(self._layers):
            xp = torch.addmm(bias, inp.reshape(B * T, -1), w_ih).view(B, T, 4 * H)
            h, c = h0[k], c0[k]
            want = outputs or k + 1 < len(self._layers)
            seq = []
            for t in range(T):
                gates = torch.addmm(xp[:, t], h, w_hh)
                sig = torch.sigmoid(gates)
                c_new = torch.addcmul(sig[:, H:2 * H] * c, sig[:, :H],
                                      torch.tanh(gates[:, 2 * H:3 * H]))
                h_new = sig[:, 3 * H:] * torch.tanh(c_new)
                if ragged:
                    m = active[:, t:t + 1]
                    h = torch.where(m, h_new, h)
                    c = torch.where(m, c_new, c)
                else:
                    h, c = h_new, c_new
                if want:
                    seq.append(h_new)
            hs.append(h)
            cs.append(c)
            if want:
                out = torch.stack(seq, dim=1)
                inp = out
        return torch.stack(hs), torch.stack(cs), out if outputs else None

    def _extend(self, work: list[tuple[tuple[int, ...], int, _Entry]]
                ) -> dict[tuple[int, ...], _Entry]:
        """Run each ``key`` from its cached ``start`` to its end, all rows batched; long
        extensions are cut at multiples of ``checkpoint_every``, whose states are cached."""
        step = self.checkpoint_every
        # segment boundaries per row: checkpoints strictly inside (start, end), then the end
        plans = []
        for key, start, entry in work:
            end = len(key)
            cuts = list(range((start // step + 1) * step, end, step)) + [end]
            plans.append((key, start, cuts, entry))
        out: dict[tuple[int, ...], _Entry] = {}
        pos = [p[1] for p in plans]
        states = [p[3] for p in plans]
        seg = 0
        while True:
            active = [i for i, p in enumerate(plans) if seg < len(p[2])]
            if not active:
                break
            lengths = [plans[i][2][seg] - pos[i] for i in active]
            T = max(lengths)
            x = torch.zeros((len(active), T), dtype=torch.long)
            for j, i in enumerate(active):
                ids = plans[i][0][pos[i]:pos[i] + lengths[j]]
                x[j, :lengths[j]] = torch.tensor(ids, dtype=torch.long)
            h0 = torch.stack([states[i][0] for i in active], dim=1)
            c0 = torch.stack([states[i][1] for i in active], dim=1)
            h, c, _ = self._forward(x, lengths, h0, c0)
            logits = self.net.head(h[-1]).float()
            self.stats["steps"] += sum(lengths)
            for j, i in enumerate(active):
                entry = (h[:, j].clone(), c[:, j].clone(), logits[j].clone())
                pos[i] = plans[i][2][seg]
                states[i] = entry
                key = plans[i][0]
                self._put(key[:pos[i]] if pos[i] < len(key) else key, entry)
                if pos[i] == len(key):
                    out[key] = entry
            seg += 1
        return out

    # ------------------------------------------------------------------ scoring / sampling
    def nll_bits(self, texts: Sequence[str | bytes], *, include_eos: bool = True,
                 batch_size: int = 64) -> tuple[float, int]:
        """Total negative log2-likelihood of ``texts`` (each a whole document, scored from
        the empty prefix, plus its end-of-sequence when ``include_eos``) and their total
        number of bytes. ``bits / bytes`` is the bits-per-byte figure."""
        docs = [self.encode(t) for t in texts]
        total, nbytes = 0.0, 0
        order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
        with torch.no_grad():
            for s in range(0, len(order), batch_size):
                group = [docs[i] for i in order[s:s + batch_size]]
                seqs = [[BOS_ID] + d + [EOS_ID] for d in group]
                T = max(len(q) for q in seqs) - 1
                x = torch.zeros((len(seqs), T), dtype=torch.long)
                y = torch.full((len(seqs), T), -100, dtype=torch.long)
                for j, q in enumerate(seqs):
                    n = len(q) - 1 if include_eos else len(q) - 2
                    x[j, :len(q) - 1] = torch.tensor(q[:-1])
                    y[j, :n] = torch.tensor(q[1:1 + n])
                zeros = torch.zeros(self.net.layers, len(seqs), self.net.hidden)
                _, _, out = self._forward(x, [len(q) - 1 for q in seqs], zeros, zeros,
                                          outputs=True)
                logits = self.net.head(out)
                loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE).float(),
                                                   y.reshape(-1), ignore_index=-100,
                                                   reduction="sum")
                total += float(loss) / math.log(2)
                nbytes += sum(len(d) for d in group)
        return total, nbytes

    def bits_per_byte(self, texts: Sequence[str | bytes], *, include_eos: bool = True,
                      batch_size: int = 64) -> float:
        """``nll_bits`` as bits per byte."""
        bits, n = self.nll_bits(texts, include_eos=include_eos, batch_size=batch_size)
        return bits / max(n, 1)

    def sample(self, prompt: str | bytes | Sequence[int] = "", *, max_new_tokens: int = 256,
               temperature: float = 0.8, seed: int | None = 0,
               stop_at_eos: bool = True) -> str:
        """Unconstrained sampling (``temperature == 0``: greedy); returns the new text."""
        ids = list(prompt) if not isinstance(prompt, (str, bytes)) else self.encode(prompt)
        gen = torch.Generator().manual_seed(seed if seed is not None else
                                            int(torch.randint(2**31, ()).item()))
        new: list[int] = []
        for _ in range(max_new_tokens):
            logits = self.logits([ids + new])[0]
            if temperature <= 0:
                t = int(torch.argmax(logits))
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                t = int(torch.multinomial(probs, 1, generator=gen))
            if t == EOS_ID and stop_at_eos:
                break
            new.append(t)
        return self.decode(new)

    def __repr__(self) -> str:
        c = self.config
        return (f"ByteLM(lstm layers={c.get('layers')} hidden={c.get('hidden')} "
                f"params={self.num_parameters:,} path={self.path!r})")
