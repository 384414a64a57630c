import torch


def _straight_through(x, q):
    return x + (q - x).detach()


def quantize(x, levels):
    return _straight_through(x, torch.round(x.clamp(0, 1) * levels) / levels)


def quantize_adc(raw, black, white):
    span = white - black
    dn = torch.round(raw * span + black).clamp(0, white)
    return _straight_through(raw, (dn - black) / span)
