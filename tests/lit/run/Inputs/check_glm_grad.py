"""check_glm_grad.py X V Y L G: L and G are the Bernoulli-logits log likelihood of Y at logits
X @ V and its gradient in V (X^T (Y - sigmoid(X V))), as NumPy computes them in float64."""
import sys

import numpy as np

x, v, y, lik, g = (np.load(p) for p in sys.argv[1:6])
z = x.astype(np.float64) @ v
want_l = np.sum(y * z - np.logaddexp(0.0, z))
want_g = x.astype(np.float64).T @ (y - 1.0 / (1.0 + np.exp(-z)))
ok = [np.allclose(lik, want_l, rtol=1e-5, atol=1e-5), np.allclose(g, want_g, rtol=1e-4, atol=1e-3)]
assert all(ok), (ok, float(lik), want_l, np.max(np.abs(g - want_g)))
