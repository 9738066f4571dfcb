#!/usr/bin/env python3
"""Generates a large, realistic .tsr program for front-end benchmarks:
shape-typed functions with decorators, generics, preconditions, tensor
methods, control flow and a probabilistic model, repeated with fresh names.

usage: gen_program.py LINES OUT.tsr
"""
import sys

TEMPLATE = '''@tessera.function
def layer_norm_{i}[D](x: Tensor["B", "S", D, bf16 @accum(f32)]) -> Tensor["B", "S", D, bf16 @accum(f32)]:
    """Normalizes over the last axis (copy {i})."""
    mean = x.mean(axis=-1, keepdim=True)
    var = x.var(axis=-1, keepdim=True)
    return (x - mean) / sqrt(var + 1e-5)

@tessera.shape_checked
def block_{i}[B, S, D, H](x: Tensor[B, S, D, bf16 @accum(f32)], num_heads: Const[H]) -> Tensor[B, S, D, bf16 @accum(f32)]:
    assert D % H == 0, f"hidden dim {{D}} must be divisible by heads {{H}}"
    q = x.reshape(B, S, H, D // H).transpose(0, 2, 1, 3)
    scores = (q @ q.transpose(0, 1, 3, 2)) / sqrt(D // H)
    out = softmax(scores, axis=-1) @ q
    y = out.transpose(0, 2, 1, 3).reshape(B, S, H * (D // H))
    for k in tessera.static_range(2):
        y = gelu(y * 0.5 + 1.0)
    if D > 64:
        y = y + x
    else:
        y = y - x
    return layer_norm_{i}(y)

@tessera.mcmc(algorithm="NUTS", num_samples=1000, num_warmup=500, seed={i})
def regression_{i}(X: Tensor["N", "K"], y: Tensor["N"]) -> Posterior:
    w ~ Normal(0, 1, shape=[K])
    b ~ Normal(0, 1)
    sigma ~ HalfCauchy(1)
    y ~ Normal(X @ w + b, sigma)
    return Posterior(w=w, b=b, sigma=sigma)

'''


def main():
    lines = int(sys.argv[1])
    out = sys.argv[2]
    chunk_lines = TEMPLATE.count("\n")
    with open(out, "w") as f:
        f.write("import tessera as ts\n\n")
        i = 0
        written = 2
        while written < lines:
            f.write(TEMPLATE.format(i=i))
            written += chunk_lines
            i += 1


if __name__ == "__main__":
    main()
