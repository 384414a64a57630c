"""The two-branch SIREN of INF, with the weights of many networks stacked for one batched pass.

Colour branch 3 -> h -> h -> h/2 and spatial branch 2 -> h -> h -> h/2, concatenated, then three
h -> h sine layers and a linear h -> 3 head; omega_0 = 30 in every sine layer (the colour branch
may have its own, an ispsim setting). Initialisation as
SIREN (Sitzmann et al. 2020): first layer U(-1/in, 1/in), others U(+-sqrt(6/in)/omega_0). Each
of the P networks is drawn from its own seeded generator, so network p is the same whether it
trains alone or stacked with others.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BRANCHES = ("colour", "spatial", "output")


def _layer_shapes(hidden: int):
    half = hidden // 2
    return {
        "colour": [(3, hidden), (hidden, hidden), (hidden, half)],
        "spatial": [(2, hidden), (hidden, hidden), (hidden, half)],
        "output": [(2 * half, hidden), (hidden, hidden), (hidden, hidden), (hidden, 3)],
    }


class StackedSiren(nn.Module):
    """P independent INF networks; ``forward(colour (P, N, 3), xy (P, N, 2)) -> (P, N, 3)``."""

    def __init__(self, seeds: list[int], hidden: int = 256, omega: float = 30.0, dtype=torch.float32,
                 omega_colour: float | None = None):
        super().__init__()
        self.omega = omega
        # the colour branch's own frequency: at 30 on sRGB in [0, 1] it fits high-frequency
        # functions of colour, which a few thousand samples cannot pin down
        self.omegas = {"colour": omega_colour or omega, "spatial": omega, "output": omega}
        self.shapes = _layer_shapes(hidden)
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        layer = 0
        for branch, shapes in self.shapes.items():
            for i, (fan_in, fan_out) in enumerate(shapes):
                ws, bs = [], []
                layer += 1
                for seed in seeds:
                    g = torch.Generator().manual_seed(int(seed) * 1000 + layer)
                    first = i == 0 and branch != "output"
                    bound = 1 / fan_in if first else math.sqrt(6 / fan_in) / self.omegas[branch]
                    ws.append((torch.rand(fan_in, fan_out, generator=g, dtype=torch.float64) * 2 - 1) * bound)
                    bs.append((torch.rand(1, fan_out, generator=g, dtype=torch.float64) * 2 - 1) / math.sqrt(fan_in))
                self.weights[f"{branch}{i}"] = nn.Parameter(torch.stack(ws).to(dtype))
                self.biases[f"{branch}{i}"] = nn.Parameter(torch.stack(bs).to(dtype))

    def _branch(self, branch: str, x, last_linear: bool = False, index: int | None = None):
        pick = (lambda t: t) if index is None else (lambda t: t[index:index + 1])  # noqa: E731
        n = len(self.shapes[branch])
        for i in range(n):
            x = torch.baddbmm(pick(self.biases[f"{branch}{i}"]), x, pick(self.weights[f"{branch}{i}"]))
            if not (last_linear and i == n - 1):
                x = torch.sin(self.omegas[branch] * x)
        return x

    def forward(self, colour, xy, index: int | None = None):
        """All P networks on ``(P, N, *)`` inputs, or network ``index`` alone on ``(1, N, *)``."""
        h = torch.cat([self._branch("colour", colour, index=index), self._branch("spatial", xy, index=index)], dim=-1)
        return self._branch("output", h, last_linear=True, index=index)

    def param_groups(self, decay: dict) -> list[dict]:
        """One optimiser group per branch with its own L2 weight decay (lambda_s, lambda_p, lambda_r)."""
        return [{"params": [p for k, p in list(self.weights.items()) + list(self.biases.items()) if k.startswith(b)],
                 "weight_decay": decay[b]} for b in BRANCHES]
