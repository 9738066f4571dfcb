"""Case tables shared by the value tests (run_values.py, NumPy references) and the gradient
tests (grad_cases.py, torch references): the same operations and broadcasting corners."""
import operator

# Elementwise binary ops: the .tsr expression and the reference, resolved in the reference's
# library (numpy or torch: both have the operators and maximum/minimum).
BINARY_EXPRS = {
    "add": ("x + y", operator.add),
    "sub": ("x - y", operator.sub),
    "mul": ("x * y", operator.mul),
    "div": ("x / y", operator.truediv),
    "maximum": ("maximum(x, y)", "maximum"),
    "minimum": ("minimum(x, y)", "minimum"),
}


def binary_ops(lib):
    """{name: (expression, reference)} with the references of `lib` (numpy or torch)."""
    return {name: (expr, getattr(lib, ref) if isinstance(ref, str) else ref)
            for name, (expr, ref) in BINARY_EXPRS.items()}


# (shape of x, shape of y, dims of x, dims of y): a [B, D] + [D] bias, size-1 axes on both
# sides, a rank-3 operand against a rank-2 one, a rank-0 operand.
BCAST = [
    ((3, 5), (3, 5), "B, D", "B, D"),
    ((3, 5), (5,), "B, D", "D"),
    ((3, 1), (1, 5), "B, 1", "1, D"),
    ((2, 3, 4), (3, 1), "A, B, D", "B, 1"),
    ((4,), (), "D", ""),
]
