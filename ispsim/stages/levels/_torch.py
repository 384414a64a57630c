import torch


def normalize(dn, black, white):
    if not dn.dtype.is_floating_point:
        dn = dn.to(torch.float32)
    return (dn - black) * (1.0 / (white - black))


def denormalize(raw, black, white):
    return raw * (white - black) + black
