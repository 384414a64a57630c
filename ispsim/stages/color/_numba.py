import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def _apply(x, m):
    n, _, h, w = x.shape
    out = np.empty_like(x)
    for r in nb.prange(n * h):
        b = r // h
        y = r % h
        mb = m[b if m.shape[0] > 1 else 0]
        for i in range(w):
            c0 = x[b, 0, y, i]
            c1 = x[b, 1, y, i]
            c2 = x[b, 2, y, i]
            for c in range(3):
                out[b, c, y, i] = mb[c, 0] * c0 + mb[c, 1] * c1 + mb[c, 2] * c2
    return out


def apply_matrix(rgb, matrix):
    lead = rgb.shape[:-3]
    x = np.ascontiguousarray(rgb.reshape((-1,) + rgb.shape[-3:]))
    m = np.asarray(matrix, dtype=rgb.dtype)
    m = np.ascontiguousarray(np.broadcast_to(m, lead + (3, 3)).reshape(-1, 3, 3) if m.ndim > 2 else m[None])
    return _apply(x, m).reshape(rgb.shape)


def inverse(matrix):
    return np.linalg.inv(np.asarray(matrix, dtype=np.float64))
