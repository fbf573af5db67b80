#!/usr/bin/env python3
"""Train bytegram's embedded byte-level LSTM language model on CPU and write the shipped files.

    python scripts/train_bytelm.py     # ~5 minutes on 2 idle CPU cores (more when shared)

Reads the corpus made by ``scripts/make_corpus.py`` (regenerated into ``build/corpus/`` when
it is missing), trains with a fixed seed and a fixed number of steps, then writes

- ``bytegram/models/bytelm.npz``: float16 weights + the JSON config (no pickle);
- ``bytegram/models/bytelm_metrics.json``: held-out bits per byte (measured with the shipped
  float16 weights through ``ByteLM``), parameters, file size, training time, corpus facts,
  seed and versions.

Training: each document is ``BOS bytes EOS``; documents are packed into chains of
``bptt``-byte chunks (a chain starts a document from the zero state, as ``ByteLM`` does at
inference; a long document continues over several chunks of the same batch row with the
state carried over, i.e. truncated back-propagation through time); Adam, linear warm-up then
cosine decay, gradient clipping.
"""

from __future__ import annotations

import argparse
import heapq
import json
import lzma
import math
import os
import sys
import time
import zlib
from pathlib import Path

# Threads that sleep instead of spinning while they wait: with another busy process on a
# 2-core machine, spinning OpenMP workers make training several times slower. Set before
# torch loads, for this process only.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import make_corpus  # noqa: E402

from bytegram.models.bytelm import (BOS_ID, EOS_ID, VOCAB_SIZE, ByteLM, ByteLSTM,  # noqa: E402
                                    save_npz)


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------
# data


def load_docs(path: Path) -> list[np.ndarray]:
    out = []
    for text in make_corpus.read_split(path):
        b = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        out.append(np.concatenate([[BOS_ID], b, [EOS_ID]]))
    return out


def make_chains(docs: list[np.ndarray], order: np.ndarray, T: int, lookahead: int = 64
                ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Pack documents (in ``order``) into chains of whole ``T``-token chunks.

    A chain starts with one document; the space left in its last chunk is filled with the
    next documents that fit (searching ``lookahead`` ahead). Returns (inputs, targets) per
    chain, each of length ``k * T``; padding and BOS targets are -100 (ignored).
    """
    n = len(order)
    used = np.zeros(n, dtype=bool)
    lengths = np.array([len(docs[i]) for i in order])
    chains = []
    head = 0
    while head < n:
        if used[head]:
            head += 1
            continue
        used[head] = True
        parts = [docs[order[head]]]
        size = int(lengths[head])
        chunks = max(1, math.ceil((size - 1) / T))
        room = chunks * T + 1 - size
        j = head + 1
        scanned = 0
        while room >= 16 and j < n and scanned < lookahead:
            if not used[j] and lengths[j] <= room:
                used[j] = True
                parts.append(docs[order[j]])
                room -= int(lengths[j])
            j += 1
            scanned += 1
        tokens = np.concatenate(parts)
        x = np.zeros(chunks * T, dtype=np.int64)
        y = np.full(chunks * T, -100, dtype=np.int64)
        x[:len(tokens) - 1] = tokens[:-1]
        y[:len(tokens) - 1] = tokens[1:]
        y[y == BOS_ID] = -100
        chains.append((x, y))
        head += 1
    return chains


def make_epoch(docs: list[np.ndarray], rng: np.random.Generator, B: int, T: int):
    """Batches for one pass over ``docs``: arrays X, Y [steps, B, T] and fresh [steps, B]."""
    order = rng.permutation(len(docs))
    chains = make_chains(docs, order, T)
    rows: list[list[tuple[np.ndarray, np.ndarray, bool]]] = [[] for _ in range(B)]
    heap = [(0, r) for r in range(B)]
    for x, y in chains:
        count, r = heapq.heappop(heap)
        k = len(x) // T
        for c in range(k):
            rows[r].append((x[c * T:(c + 1) * T], y[c * T:(c + 1) * T], c == 0))
        heapq.heappush(heap, (count + k, r))
    steps = max(len(r) for r in rows)
    X = np.zeros((steps, B, T), dtype=np.int64)
    Y = np.full((steps, B, T), -100, dtype=np.int64)
    fresh = np.ones((steps, B), dtype=bool)
    for r, row in enumerate(rows):
        for s, (x, y, f) in enumerate(row):
            X[s, r], Y[s, r], fresh[s, r] = x, y, f
    return X, Y, fresh


# ---------------------------------------------------------------------------------------------
# evaluation and baselines


def eval_bpb(net: ByteLSTM, docs: list[np.ndarray], batch: int = 64) -> float:
    """Bits per byte of ``docs`` (EOS included in the bits, not in the byte count)."""
    net.eval()
    total, nbytes = 0.0, 0
    order = sorted(range(len(docs)), key=lambda i: len(docs[i]))
    with torch.no_grad():
        for s in range(0, len(order), batch):
            group = [docs[i] for i in order[s:s + batch]]
            T = max(len(d) for d in group) - 1
            x = torch.zeros((len(group), T), dtype=torch.long)
            y = torch.full((len(group), T), -100, dtype=torch.long)
            for j, d in enumerate(group):
                x[j, :len(d) - 1] = torch.from_numpy(d[:-1])
                y[j, :len(d) - 1] = torch.from_numpy(d[1:])
            logits, _ = net(x)
            total += float(nn.functional.cross_entropy(
                logits.reshape(-1, VOCAB_SIZE), y.reshape(-1), ignore_index=-100,
                reduction="sum")) / math.log(2)
            nbytes += sum(len(d) - 2 for d in group)
    net.train()
    return total / nbytes


def baselines(train_texts: list[str], held_texts: list[str]) -> dict[str, float]:
    """Reference points for the held-out bits per byte."""
    counts = np.zeros(256, dtype=np.float64)
    for t in train_texts:
        counts += np.bincount(np.frombuffer(t.encode("utf-8"), np.uint8), minlength=256)
    p = (counts + 1) / (counts.sum() + 256)
    held = "\x00".join(held_texts).encode("utf-8")
    hb = np.frombuffer(held, np.uint8)
    unigram = float(-np.log2(p[hb]).mean())
    return {"uniform_bits_per_byte": math.log2(VOCAB_SIZE),
            "unigram_bits_per_byte": round(unigram, 4),
            "zlib9_bits_per_byte": round(8 * len(zlib.compress(held, 9)) / len(held), 4),
            "xz9e_bits_per_byte": round(8 * len(lzma.compress(
                held, preset=9 | lzma.PRESET_EXTREME)) / len(held), 4)}


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(REPO / "build" / "corpus"))
    ap.add_argument("--out", default=str(REPO / "bytegram" / "models" / "bytelm.npz"))
    ap.add_argument("--metrics", default=None,
                    help="metrics json (default: bytelm_metrics.json next to --out)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--corpus-seed", type=int, default=make_corpus.DEFAULT_SEED)
    ap.add_argument("--corpus-docs", type=int, default=make_corpus.DEFAULT_DOCS)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--bptt", type=int, default=128)
    ap.add_argument("--steps", type=int, default=2200)
    ap.add_argument("--lr", type=float, default=6e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-docs", type=int, default=200)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)  # this script's own process only
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    corpus = Path(args.corpus)
    if not (corpus / "train.jsonl").is_file() or not (corpus / "heldout.jsonl").is_file():
        log(f"corpus not found in {corpus}: regenerating (seed {args.corpus_seed}, "
            f"{args.corpus_docs} documents)")
        make_corpus.write_corpus(corpus, args.corpus_seed, args.corpus_docs)
    meta = json.loads((corpus / "meta.json").read_text())
    train_docs = load_docs(corpus / "train.jsonl")
    held_texts = make_corpus.read_split(corpus / "heldout.jsonl")
    held_docs = load_docs(corpus / "heldout.jsonl")
    train_bytes = sum(len(d) - 2 for d in train_docs)
    log(f"corpus: {len(train_docs)} train docs ({train_bytes:,} bytes), {len(held_docs)} "
        f"held-out docs ({sum(len(d) - 2 for d in held_docs):,} bytes)")

    net = ByteLSTM(embed_dim=args.embed, hidden=args.hidden, layers=args.layers)
    H = args.hidden
    with torch.no_grad():  # forget-gate bias 1 (PyTorch gate order: i, f, g, o)
        for k in range(args.layers):
            getattr(net.lstm, f"bias_ih_l{k}")[H:2 * H].fill_(1.0)
            getattr(net.lstm, f"bias_hh_l{k}")[H:2 * H].fill_(0.0)
    params = sum(p.numel() for p in net.parameters())
    log(f"model: LSTM layers={args.layers} hidden={H} embed={args.embed}: {params:,} params; "
        f"{args.steps} steps of {args.batch}x{args.bptt} bytes, lr {args.lr}, "
        f"{args.threads} threads")
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)

    def lr_at(step: int) -> float:
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        t = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))

    eval_subset = held_docs[:args.eval_docs]
    B, T, L = args.batch, args.bptt, args.layers
    h = torch.zeros(L, B, H)
    c = torch.zeros(L, B, H)
    load_start = os.getloadavg()[0]
    t0 = time.time()
    epoch, X, Y, F, s_in_epoch = 0, None, None, None, 0
    tokens_seen = 0
    run_loss, run_tok = 0.0, 0
    history = []
    net.train()
    for step in range(args.steps):
        if X is None or s_in_epoch >= len(X):
            X, Y, F = make_epoch(train_docs, rng, B, T)
            epoch += 1
            s_in_epoch = 0
            if epoch > 1:
                log(f"epoch {epoch} begins at step {step}")
        x = torch.from_numpy(X[s_in_epoch])
        y = torch.from_numpy(Y[s_in_epoch])
        keep = torch.from_numpy(~F[s_in_epoch]).float().view(1, B, 1)
        s_in_epoch += 1
        h, c = h * keep, c * keep
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits, (h, c) = net(x, (h, c))
        h, c = h.detach(), c.detach()
        n_tok = int((y != -100).sum())
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB_SIZE), y.reshape(-1),
                                           ignore_index=-100, reduction="sum")
        opt.zero_grad(set_to_none=True)
        (loss / max(n_tok, 1)).backward()
        nn.utils.clip_grad_norm_(net.parameters(), args.clip)
        opt.step()
        tokens_seen += n_tok
        run_loss += float(loss.detach())
        run_tok += n_tok
        if (step + 1) % 50 == 0 or step == 0:
            el = time.time() - t0
            log(f"step {step + 1:5d}/{args.steps}  train {run_loss / run_tok / math.log(2):.3f} "
                f"bits/token  lr {lr_at(step):.2e}  {tokens_seen / el:,.0f} tok/s  "
                f"{el:6.1f}s  eta {el / (step + 1) * (args.steps - step - 1):5.0f}s")
            run_loss, run_tok = 0.0, 0
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            bpb = eval_bpb(net, eval_subset)
            history.append({"step": step + 1, "heldout_subset_bits_per_byte": round(bpb, 4),
                            "seconds": round(time.time() - t0, 1)})
            log(f"  held-out ({len(eval_subset)} docs): {bpb:.4f} bits/byte")
    train_seconds = time.time() - t0
    load_end = os.getloadavg()[0]
    log(f"trained in {train_seconds:.0f}s ({tokens_seen:,} tokens, "
        f"{tokens_seen / train_bytes:.2f} epochs)")

    # evaluate fp32, then write fp16 and evaluate exactly what ships, through ByteLM
    bpb32 = eval_bpb(net, held_docs)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    config = save_npz(net, out, extra={
        "trained_by": "scripts/train_bytelm.py", "seed": args.seed,
        "corpus": {"generator": "scripts/make_corpus.py", "seed": meta["seed"],
                   "documents": meta["documents"]}})
    lm = ByteLM.load(out)
    bits, nbytes = lm.nll_bits(held_texts, include_eos=True)
    bits_no_eos, _ = lm.nll_bits(held_texts, include_eos=False)
    bpb16 = bits / nbytes
    base = baselines(make_corpus.read_split(corpus / "train.jsonl"), held_texts)
    log(f"held-out ({len(held_texts)} docs, {nbytes:,} bytes): {bpb16:.4f} bits/byte with the "
        f"shipped float16 weights ({bpb32:.4f} in float32); without EOS "
        f"{bits_no_eos / nbytes:.4f}; baselines {base}")

    metrics = {
        "heldout_bits_per_byte": round(bpb16, 4),
        "heldout_bits_per_byte_definition": "sum over held-out documents of -log2 p(each byte "
                                            "and the final EOS | BOS, earlier bytes), divided "
                                            "by the number of bytes; float16 weights as shipped",
        "heldout_bits_per_byte_without_eos": round(bits_no_eos / nbytes, 4),
        "heldout_bits_per_byte_fp32": round(bpb32, 4),
        "heldout_documents": len(held_texts), "heldout_bytes": nbytes,
        "baselines": base,
        "params": params, "file_bytes": out.stat().st_size, "weight_dtype": "float16",
        "arch": config["arch"], "layers": L, "hidden": H, "embed_dim": args.embed,
        "train_seconds": round(train_seconds, 1), "steps": args.steps, "batch": B, "bptt": T,
        "lr": args.lr, "tokens_seen": tokens_seen,
        "epochs": round(tokens_seen / train_bytes, 3),
        "corpus": {"train_documents": len(train_docs), "train_bytes": train_bytes,
                   "seed": meta["seed"], "documents": meta["documents"],
                   "train_sha256": meta["train_sha256"],
                   "heldout_sha256": meta["heldout_sha256"]},
        "seed": args.seed, "threads": args.threads, "torch_version": torch.__version__,
        "numpy_version": np.__version__, "python_version": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "load_average_1min": {"start": round(load_start, 2), "end": round(load_end, 2)},
        "history": history,
    }
    mpath = Path(args.metrics) if args.metrics else out.with_name(
        out.stem + "_metrics.json")
    mpath.write_text(json.dumps(metrics, indent=2) + "\n")
    log(f"wrote {out} ({out.stat().st_size:,} bytes) and {mpath}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
