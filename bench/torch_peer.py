#!/usr/bin/python3
"""The PyTorch peer of bench/cpu_bench: a co-process driven over stdin/stdout.

cpu_bench starts it with /usr/bin/python3 (Debian's python3-torch), writes the inputs as
.npy files, and sends one command per line; every command answers one line:
  threads N                  -> "ok"            torch.set_num_threads(N)
  load NAME DIR              -> "ok"            reads DIR/NAME_in<i>.npy, preallocates
                                                (train: builds the model and its AdamW state)
  time NAME                  -> seconds         one timed call of the peer (after `load`)
  check NAME OURS.npy RTOL ATOL [FRACTION] -> "ok MAXERR" or "mismatch MAXERR" (FRACTION: the
                                                share of elements that must be close, default 1)
  quit
Timing happens here, so the pipe's round trip is not counted; cpu_bench alternates
its own calls with `time` requests (ABAB...), as bench rules ask.
"""
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)

PEERS = {
    "gelu": lambda x, a, b: F.gelu(x * a + b),
    "softmax": lambda x: torch.softmax(x, dim=-1),
    "layer_norm": lambda x, w, b: F.layer_norm(x, (x.shape[-1],), w, b, eps=1e-5),
    "sgemm": lambda a, b: a @ b,
    "bf16mm": lambda a, b: a @ b,
    "attention": lambda q, k, v: attention(q, k, v, False),
    "attention_causal": lambda q, k, v: attention(q, k, v, True),
    "attention_grad": lambda q, k, v, dy: attention_grad(q, k, v, dy, False),
    "attention_grad_causal": lambda q, k, v, dy: attention_grad(q, k, v, dy, True),
}

_future = {}


def attention(q, k, v, causal):
    """Scaled dot-product attention as PyTorch 1.13 users write it (no fused kernel in 1.13)."""
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if causal:
        n = s.shape[-1]
        if n not in _future:  # the mask is made once, as a model would keep it in a buffer
            _future[n] = torch.ones(n, n, dtype=torch.bool).triu(1)
        s = s.masked_fill(_future[n], float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def attention_grad(q, k, v, dy, causal):
    """Forward and backward of attention: dq (dk and dv are computed too)."""
    with torch.enable_grad():
        q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
        attention(q, k, v, causal).backward(dy)
    return q.grad

# Inputs converted once at load (the files hold the bf16 values as f32, exactly).
CAST = {"bf16mm": torch.bfloat16}

BLOCK_PARAMS = 12  # the transformer block's parameters (cpu_bench's kBlockParams)

ARITY = {"gelu": 3, "softmax": 1, "layer_norm": 3, "sgemm": 2, "bf16mm": 2, "attention": 3, "attention_causal": 3,
         "attention_grad": 4, "attention_grad_causal": 4, "train": 14, "cnn_train": 14, "resnet_train": 14,
         "block_train": 3 * BLOCK_PARAMS + 2, "block_train_bf16": 3 * BLOCK_PARAMS + 2}


class TrainStep:
    """One training step of the MLP of cpu_bench's `train`: forward, loss.backward(),
    torch.optim.AdamW.step() (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01).
    Inputs (cpu_bench's order): w1 b1 w2 b2, 8 moment tensors (zeros: AdamW keeps its own),
    x, labels. Each call is one step on the state made at construction; returns the new w1."""

    def __init__(self, *args):
        w1, b1, w2, b2 = (a.clone().requires_grad_(True) for a in args[:4])
        self.params = [w1, b1, w2, b2]
        self.x, self.labels = args[12], args[13]
        self.opt = torch.optim.AdamW(self.params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def __call__(self):
        with torch.enable_grad():
            w1, b1, w2, b2 = self.params
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(torch.relu(self.x @ w1 + b1) @ w2 + b2, self.labels)
            loss.backward()
            self.opt.step()
        return w1.detach()


def block_forward(x, wq, wk, wv, wo, w1, b1, w2, b2, g1, c1, g2, c2, heads=4):
    """The pre-norm transformer block of cpu_bench's `block` benchmark."""
    bsz, s, d = x.shape
    hn = F.layer_norm(x, (d,), g1, c1, eps=1e-5)

    def split(t):
        return t.reshape(bsz, s, heads, d // heads).transpose(1, 2)

    a = attention(split(hn @ wq), split(hn @ wk), split(hn @ wv), True).transpose(1, 2).reshape(bsz, s, d)
    x1 = x + a @ wo
    h2 = F.layer_norm(x1, (d,), g2, c2, eps=1e-5)
    return x1 + F.gelu(h2 @ w1 + b1) @ w2 + b2


class BlockStep:
    """One training step of the transformer block: forward (under torch.autocast(bfloat16) for
    the bf16 case), mean squared error in f32, loss.backward(), AdamW.step() with the MLP's
    settings. Inputs: 12 parameters, 24 moment tensors (AdamW keeps its own), x, y. Returns wq."""

    def __init__(self, bf16, *args):
        self.params = [a.clone().requires_grad_(True) for a in args[:BLOCK_PARAMS]]
        self.x, self.y = args[3 * BLOCK_PARAMS], args[3 * BLOCK_PARAMS + 1]
        self.bf16 = bf16
        self.opt = torch.optim.AdamW(self.params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def __call__(self):
        with torch.enable_grad():
            self.opt.zero_grad(set_to_none=True)
            if self.bf16:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = block_forward(self.x, *self.params)
            else:
                out = block_forward(self.x, *self.params)
            loss = ((out.float() - self.y) ** 2).mean()
            loss.backward()
            self.opt.step()
        return self.params[0].detach()


class CnnStep:
    """One training step of cpu_bench's CNN models: `cnn` (conv 3x3 + bias, relu, max_pool 2,
    linear, cross_entropy) or `resnet` (relu(x + conv(relu(conv(x)))), mean squared error), then
    AdamW with the MLP's settings. Inputs: 4 parameters, 8 moment tensors (AdamW keeps its own),
    then the data (x, labels or x, y). Returns the first parameter."""

    def __init__(self, resnet, *args):
        self.params = [a.clone().requires_grad_(True) for a in args[:4]]
        self.x, self.target = args[12], args[13]
        self.resnet = resnet
        self.opt = torch.optim.AdamW(self.params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def __call__(self):
        with torch.enable_grad():
            self.opt.zero_grad(set_to_none=True)
            k1, c1, a, b = self.params
            if self.resnet:
                h = torch.relu(F.conv2d(self.x, k1, c1, padding=1))
                out = torch.relu(self.x + F.conv2d(h, a, b, padding=1))
                loss = ((out - self.target) ** 2).mean()
            else:
                h = F.max_pool2d(torch.relu(F.conv2d(self.x, k1, c1, padding=1)), 2)
                loss = F.cross_entropy(h.reshape(h.shape[0], -1) @ a + b, self.target)
            loss.backward()
            self.opt.step()
        return self.params[0].detach()


STATEFUL = {
    "cnn_train": lambda *a: CnnStep(False, *a),
    "resnet_train": lambda *a: CnnStep(True, *a),
    "train": lambda *a: TrainStep(*a),
    "block_train": lambda *a: BlockStep(False, *a),
    "block_train_bf16": lambda *a: BlockStep(True, *a),
}


def main():
    inputs = {}
    stateful = {}
    out = sys.stdout
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        cmd = parts[0]
        if cmd == "quit":
            break
        if cmd == "threads":
            torch.set_num_threads(int(parts[1]))
            reply = f"ok {torch.get_num_threads()}"
        elif cmd == "load":
            name, d = parts[1], parts[2]
            inputs[name] = [torch.from_numpy(np.load(f"{d}/{name}_in{i}.npy")) for i in range(ARITY[name])]
            if name in CAST:
                inputs[name] = [t.to(CAST[name]) for t in inputs[name]]
            if name in STATEFUL:  # the timed calls are steps of one optimizer
                stateful[name] = STATEFUL[name](*inputs[name])
                stateful[name]()  # warm up
            else:
                PEERS[name](*inputs[name])  # warm the allocator
            reply = "ok"
        elif cmd == "time":
            name = parts[1]
            if name in stateful:
                f, args = stateful[name], []
            else:
                f, args = PEERS[name], inputs[name]
            t0 = time.perf_counter()
            r = f(*args)
            t1 = time.perf_counter()
            del r
            reply = f"{t1 - t0:.9f}"
        elif cmd == "check":
            name, ours_path, rtol, atol = parts[1], parts[2], float(parts[3]), float(parts[4])
            min_fraction = float(parts[5]) if len(parts) > 5 else 1.0
            if name in STATEFUL:  # one step from the loaded state
                expected = STATEFUL[name](*inputs[name])().double()
            else:
                expected = PEERS[name](*inputs[name]).double()
            ours = torch.from_numpy(np.load(ours_path)).double()
            if ours.shape != expected.shape:
                reply = f"mismatch shape {tuple(ours.shape)} vs {tuple(expected.shape)}"
            else:
                err = (ours - expected).abs().max().item()
                close = torch.isclose(ours, expected, rtol=rtol, atol=atol).double().mean().item()
                good = close >= min_fraction
                reply = f"{'ok' if good else 'mismatch'} {err:.3g}"
                if min_fraction < 1.0:
                    reply += f", {close * 100:.2f}% within tolerance"
        elif cmd == "drop":
            inputs.pop(parts[1], None)
            stateful.pop(parts[1], None)
            reply = "ok"
        else:
            reply = f"error unknown command {cmd}"
        out.write(reply + "\n")
        out.flush()


if __name__ == "__main__":
    main()
