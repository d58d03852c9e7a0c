"""PyTorch's validation loss for the two character language models of the issue "Sequence models and attention",
trained on Debian's fortunes (apt-get install fortunes) under the protocol that
Tests/AxonNNTests/LanguageModelTests.swift follows in Axon:

- corpus: every regular file under /usr/share/games/fortunes except the `.dat` indexes (the `.u8` names are
  symbolic links, skipped), in path order, as bytes; the vocabulary is the set of bytes, ascending;
- split: the last 5% of the tokens (rounded half away from zero) is validation, read as non-overlapping windows
  of 64 from its start; training windows start at a random offset in 0..<64 and are shuffled;
- models: `char-lstm` (embedding 64, LSTM 2x256, linear) and `char-transformer` (dModel 128, 4 heads, 4 pre-norm
  GELU layers, feed-forward 512, learned positions, final LayerNorm), dropout 0, each with Axon's attribute names;
- training: batch 32, Adam (lr 0.005), cosine annealing of the rate to 0 over the steps (stepped per batch),
  gradient norm clipped to 1, STEPS steps;
- the figure: mean cross-entropy (nats per character) over every validation token.

Seeds differ between frameworks, so the script trains each model with several seeds and writes the mean and the
spread to Tests/AxonNNTests/Fixtures/fortunes_reference.json; the test's bar is that mean times 1.03.
    ~/.axon-reference/bin/python bench/fortunes_reference.py [--seeds 0,1,2] [--threads 2]"""
import argparse, json, math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = "/usr/share/games/fortunes"
CONTEXT, BATCH, LR, CLIP, VALIDATION = 64, 32, 0.005, 1.0, 0.05
STEPS = {"char-lstm": 400, "char-transformer": 400}


def corpus():
    files = []
    for d, _, names in os.walk(ROOT):
        for n in names:
            p = os.path.join(d, n)
            if not os.path.islink(p) and os.path.isfile(p) and not n.endswith(".dat"):
                files.append(p)
    return b"".join(open(p, "rb").read() for p in sorted(files))


class CharLSTM(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.embedding = nn.Embedding(v, 64)
        self.lstm = nn.LSTM(64, 256, num_layers=2, batch_first=True)
        self.head = nn.Linear(256, v)

    def forward(self, x):
        return self.head(self.lstm(self.embedding(x))[0])


class Positions(nn.Module):
    def __init__(self, n, d):
        super().__init__()
        self.embedding = nn.Embedding(n, d)

    def forward(self, x):
        return x + self.embedding(torch.arange(x.shape[1]))


class CharTransformer(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.embedding = nn.Embedding(v, 128)
        self.position = Positions(CONTEXT, 128)
        layer = nn.TransformerEncoderLayer(128, 4, 512, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(128)
        self.head = nn.Linear(128, v)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(CONTEXT), persistent=False)

    def forward(self, x):
        t = x.shape[1]
        return self.head(self.norm(self.encoder(self.position(self.embedding(x)), mask=self.mask[:t, :t], is_causal=True)))


def windows(tokens, offset, indices):
    x = torch.stack([tokens[offset + i * CONTEXT: offset + (i + 1) * CONTEXT] for i in indices])
    y = torch.stack([tokens[offset + i * CONTEXT + 1: offset + (i + 1) * CONTEXT + 1] for i in indices])
    return x, y


def run(kind, seed, train, validation, vocab):
    torch.manual_seed(seed)
    model = CharLSTM(vocab) if kind == "char-lstm" else CharTransformer(vocab)
    steps = STEPS[kind]
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    g = torch.Generator().manual_seed(seed)
    step, queue = 0, []
    start = time.time()
    while step < steps:
        if not queue:  # a new epoch: a new offset, the windows shuffled
            offset = int(torch.randint(CONTEXT, (1,), generator=g))
            count = (len(train) - 1 - offset) // CONTEXT
            perm = torch.randperm(count, generator=g).tolist()
            queue = [(offset, perm[i:i + BATCH]) for i in range(0, count, BATCH)]
        offset, idx = queue.pop(0)
        x, y = windows(train, offset, idx)
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        schedule.step()
        step += 1
    seconds = time.time() - start
    model.eval()
    total, n = 0.0, 0
    count = (len(validation) - 1) // CONTEXT
    with torch.no_grad():
        for i in range(0, count, 256):
            x, y = windows(validation, 0, range(i, min(i + 256, count)))
            total += float(F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1), reduction="sum"))
            n += y.numel()
    return total / n, float(loss.detach()), seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="char-lstm,char-transformer")
    parser.add_argument("--steps", type=int, help="explore: steps of every model (the committed figures use STEPS)")
    parser.add_argument("--lr", type=float, help="explore: the peak rate (the committed figures use LR)")
    parser.add_argument("--dry", action="store_true", help="print, do not write the fixture")
    args = parser.parse_args()
    global LR
    if args.steps:
        for k in STEPS: STEPS[k] = args.steps
    if args.lr: LR = args.lr
    torch.set_num_threads(args.threads)
    text = corpus()
    vocab = sorted(set(text))
    lookup = {b: i for i, b in enumerate(vocab)}
    tokens = torch.tensor([lookup[b] for b in text])
    cut = len(tokens) - int(len(tokens) * VALIDATION + 0.5)
    train, validation = tokens[:cut], tokens[cut:]
    out = {"about": f"PyTorch {torch.__version__}, bench/fortunes_reference.py", "bytes": len(text), "vocabulary": len(vocab),
           "trainTokens": len(train), "validationTokens": len(validation), "context": CONTEXT, "batch": BATCH, "lr": LR,
           "clip": CLIP, "models": {}}
    for kind in args.models.split(","):
        losses = []
        for seed in [int(s) for s in args.seeds.split(",")]:
            val, last, seconds = run(kind, seed, train, validation, len(vocab))
            print(f"{kind} seed {seed}: validation loss {val:.4f}, last training loss {last:.4f}, {seconds:.0f} s", flush=True)
            losses.append(val)
        mean = sum(losses) / len(losses)
        out["models"][kind] = {"steps": STEPS[kind], "seeds": [int(s) for s in args.seeds.split(",")], "validationLoss": losses,
                               "mean": mean, "spread": max(losses) - min(losses)}
    if args.dry:
        return print(json.dumps(out["models"]))
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Tests", "AxonNNTests", "Fixtures")
    with open(os.path.join(here, "fortunes_reference.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(out["models"]))


if __name__ == "__main__":
    main()
