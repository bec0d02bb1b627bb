"""PyTorch peer for `bench -- step` / `bench -- infer`: the same BERT-for-sequence-classification architecture
(embeddings + LayerNorm, N post-LN encoder layers with exact GELU, tanh pooler, linear classifier, dropout 0.1)
built from plain torch.nn modules, timed on the same random batch shape. Prints one JSON line."""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, h, heads, inter, p):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.o, self.ln1 = nn.Linear(h, h), nn.LayerNorm(h, eps=1e-12)
        self.i, self.out, self.ln2 = nn.Linear(h, inter), nn.Linear(inter, h), nn.LayerNorm(h, eps=1e-12)
        self.drop = nn.Dropout(p)

    def split(self, x):
        b, t, c = x.shape
        return x.view(b, t, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x, ext_mask):
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + ext_mask
        a = self.drop(s.softmax(-1)) @ v
        a = a.transpose(1, 2).reshape(x.shape)
        x = self.ln1(self.drop(self.o(a)) + x)
        return self.ln2(self.drop(self.out(F.gelu(self.i(x)))) + x)


class Bert(nn.Module):
    def __init__(self, layers, h, heads, inter, vocab=30522, pos=512, labels=2, p=0.1):
        super().__init__()
        self.word, self.pos, self.types = nn.Embedding(vocab, h, padding_idx=0), nn.Embedding(pos, h), nn.Embedding(2, h)
        self.ln, self.drop = nn.LayerNorm(h, eps=1e-12), nn.Dropout(p)
        self.layers = nn.ModuleList(Layer(h, heads, inter, p) for _ in range(layers))
        self.pool, self.cls = nn.Linear(h, h), nn.Linear(h, labels)

    def forward(self, ids, mask, types):
        t = ids.shape[1]
        x = self.drop(self.ln(self.word(ids) + self.types(types) + self.pos(torch.arange(t))))
        ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.layers:
            x = layer(x, ext)
        return self.cls(self.drop(torch.tanh(self.pool(x[:, 0]))))


def main():
    ap = argparse.ArgumentParser()
    for name in ("layers", "hidden", "heads", "inter", "batch", "seq", "iters", "threads"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-ms", type=int, default=0)
    ap.add_argument("--mode", choices=("step", "infer"), required=True)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Bert(a.layers, a.hidden, a.heads, a.inter)
    ids = torch.randint(1000, 30522, (a.batch, a.seq))
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    types = torch.zeros(a.batch, a.seq, dtype=torch.long)
    labels = torch.randint(0, 2, (a.batch,))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def run():
        if a.mode == "step":
            model.train()
            opt.zero_grad()
            F.cross_entropy(model(ids, mask, types), labels).backward()
            opt.step()
        else:
            model.eval()
            with torch.no_grad():
                model(ids, mask, types)

    for _ in range(a.warmup):
        run()
    times = []
    start = time.perf_counter()
    while len(times) < a.iters or (time.perf_counter() - start) * 1000 < a.min_ms:
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"ms": times[len(times) // 2], "p90_ms": times[int(len(times) * 0.9)], "peak_rss": rss, "torch": "pytorch " + torch.__version__}))


if __name__ == "__main__":
    main()
