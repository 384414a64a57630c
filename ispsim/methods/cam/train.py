"""CAM's losses and updates: joint training step with the first-order meta loss, and test-time
fine-tuning on the stored samples."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .model import Reconstructor, Sampler, superpixel_loss


def random_mask(shape, rate: float, generator=None, device=None):
    """``(B, 1, H, W)`` with ``round(rate * H * W)`` random ones per image."""
    b, _, h, w = shape
    k = max(1, round(rate * h * w))
    scores = torch.rand(b, h * w, generator=generator, device=device)
    idx = scores.topk(k, dim=1).indices
    m = torch.zeros(b, h * w, device=device)
    m.scatter_(1, idx, 1.0)
    return m.reshape(b, 1, h, w)


def masked_l1(pred, target, mask):
    return (torch.abs(pred - target) * mask).sum() / (mask.sum() * pred.shape[1]).clamp(min=1)


def meta_gradients(recon: Reconstructor, srgb, raw, mask, *, steps: int = 5, lr: float = 1e-3, weight: float = 0.01):
    """First-order MAML: adapt a copy on the masked samples, then add the gradient of the copy's
    full-image L1 (times ``weight``) to ``recon``'s gradients. Returns the outer loss."""
    fast = copy.deepcopy(recon)
    inner = torch.optim.SGD(fast.parameters(), lr=lr)
    for _ in range(steps):
        inner.zero_grad(set_to_none=True)
        masked_l1(fast(srgb, raw, mask), raw, mask).backward()
        inner.step()
    fast.zero_grad(set_to_none=True)
    outer = F.l1_loss(fast(srgb, raw, mask), raw)
    outer.backward()
    for p, q in zip(recon.parameters(), fast.parameters()):
        if q.grad is not None:
            p.grad = weight * q.grad if p.grad is None else p.grad + weight * q.grad
    return outer.detach()


def train_step(sampler: Sampler, recon: Reconstructor, opt, srgb, raw, *, rate: float, lambda_s: float = 1e-4,
               lambda_m: float = 0.01, meta_steps: int = 5, meta_lr: float = 1e-3, generator=None) -> dict:
    """One joint step: L1 reconstruction + lambda_s superpixel loss, + lambda_m meta loss."""
    opt.zero_grad(set_to_none=True)
    mask, q = sampler(srgb, raw)
    rec = F.l1_loss(recon(srgb, raw, mask), raw)
    sp = superpixel_loss(q, srgb, raw, sampler.cell)
    (rec + lambda_s * sp).backward()
    meta = torch.tensor(0.0)
    if lambda_m > 0:
        meta = meta_gradients(recon, srgb, raw, random_mask(raw.shape, rate, generator), steps=meta_steps,
                              lr=meta_lr, weight=lambda_m)
    opt.step()
    return {"l1": float(rec.detach()), "superpixel": float(sp.detach()), "meta": float(meta)}


def fine_tune(recon: Reconstructor, srgb, raw_samples, mask, *, steps: int = 10, lr: float = 1e-4) -> Reconstructor:
    """Test-time fine-tuning of a copy on the stored samples (masked L1, Adam)."""
    tuned = copy.deepcopy(recon)
    tuned.train(False)
    opt = torch.optim.Adam(tuned.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        masked_l1(tuned(srgb, raw_samples, mask), raw_samples, mask).backward()
        opt.step()
    return tuned
