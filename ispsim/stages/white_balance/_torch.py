import torch


def scale(rgb, gains, invert):
    g = torch.as_tensor(gains, dtype=rgb.dtype, device=rgb.device)[..., :, None, None]
    return rgb / g if invert else rgb * g


def _quantile(v, q):
    v, _ = torch.sort(v, dim=-1)
    pos = q * (v.shape[-1] - 1)
    lo = int(pos // 1)
    hi = min(lo + 1, v.shape[-1] - 1)
    return v[..., lo] + (pos - lo) * (v[..., hi] - v[..., lo])


def estimate_illuminant(rgb, method, p, q):
    flat = rgb.reshape(rgb.shape[:-2] + (-1,)).to(torch.float64)
    if method == "gray_world":
        est = flat.mean(dim=-1)
    elif method == "white_patch":
        est = _quantile(flat, q)
    else:
        est = torch.mean(flat.clamp(min=0) ** p, dim=-1) ** (1.0 / p)
    return est.to(rgb.dtype)
