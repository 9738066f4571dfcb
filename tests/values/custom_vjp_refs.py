"""Torch references with a custom backward for the @custom_vjp tests, shared by
tests/values/grad_cases.py (values_grad) and tests/lit/autodiff/Inputs/check_grads.py (lit):
the same backward as the Tessera test's custom_vjp function."""
import torch


class ClipGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, ct):
        return ct.clamp(-0.5, 0.5)


class Binarize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, ct):
        (x,) = ctx.saved_tensors
        return torch.where(x.abs() <= 1.0, ct, torch.zeros_like(ct))
