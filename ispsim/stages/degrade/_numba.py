import numpy as np
from scipy.ndimage import correlate


def blur(x, k):
    flat = x.reshape((-1,) + x.shape[-2:])
    # scipy's "mirror" is PyTorch's "reflect": the edge sample is not repeated.
    out = np.stack([correlate(img.astype(np.float64), k, mode="mirror") for img in flat])
    return out.astype(x.dtype).reshape(x.shape)


def resize(x, wy, wx):
    out = np.einsum("ij,...jk,lk->...il", wy, x.astype(np.float64), wx, optimize=True)
    return out.astype(x.dtype)
