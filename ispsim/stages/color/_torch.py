import torch


def apply_matrix(rgb, matrix):
    m = torch.as_tensor(matrix, dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("...ck,...khw->...chw", m, rgb)


def inverse(matrix):
    m = torch.as_tensor(matrix)
    return torch.linalg.inv(m.to(torch.float64) if not m.requires_grad else m)
