"""The prior bank: reference pixels compressed by clustering their search features.

faiss k-means with inner-product assignment (the affinity the encoder is trained for), random
initial centroids; each cluster is then represented by the mean feature, sRGB and RAW of the
``group`` reference pixels nearest its centroid (Algorithm 2 of the paper).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PriorBank:
    feat: np.ndarray  # (K, D) float32
    srgb: np.ndarray  # (K, 3)
    raw: np.ndarray  # (K, 3)

    def __len__(self) -> int:
        return len(self.feat)

    def tensors(self):
        import torch

        return {k: torch.from_numpy(np.ascontiguousarray(getattr(self, k))) for k in ("feat", "srgb", "raw")}

    @property
    def nbytes(self) -> int:
        return self.feat.nbytes + self.srgb.nbytes + self.raw.nbytes


def kmeans_ip(x: np.ndarray, k: int, *, iterations: int = 20, seed: int = 0) -> np.ndarray:
    """Centroids ``(k, D)`` of ``x (N, D)`` under inner-product assignment."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    if len(x) < k:
        raise ValueError(f"prior bank: {len(x)} reference pixels cannot make {k} clusters")
    cp = faiss.ClusteringParameters()
    cp.niter, cp.seed, cp.verbose = int(iterations), int(seed), False
    cp.max_points_per_centroid = 256  # faiss subsamples beyond this; the grouping uses every pixel
    clus = faiss.Clustering(x.shape[1], int(k), cp)
    clus.train(x, faiss.IndexFlatIP(x.shape[1]))
    return faiss.vector_float_to_array(clus.centroids).reshape(k, x.shape[1])


def nearest_ip(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Indices ``(Q, k)`` of the ``k`` rows of ``base`` with the largest inner product per query."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    _, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), int(k))
    return idx


def build_bank(feat: np.ndarray, srgb: np.ndarray, raw: np.ndarray, *, clusters: int, group: int,
               seed: int = 0) -> PriorBank:
    """Compress ``N`` reference pixels (``feat (N, D)``, ``srgb``/``raw (N, 3)``) to ``clusters``."""
    group = min(int(group), len(feat))
    centroids = kmeans_ip(feat, clusters, seed=seed)
    idx = nearest_ip(feat, centroids, group)  # (K, group)
    mean = feat[idx].mean(1)
    # A mean of directions is shorter than its members: give it their norm back, so that bank
    # entries compete with the same temperature the encoder was trained with.
    norm = np.linalg.norm(feat[idx], axis=2).mean(1, keepdims=True) / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
    return PriorBank((mean * norm).astype(np.float32), srgb[idx].mean(1).astype(np.float32),
                     raw[idx].mean(1).astype(np.float32))


def search_topk(feat: np.ndarray, ref_feat: np.ndarray, ref_values: np.ndarray, k: int = 256) -> np.ndarray:
    """Assemble values from a whole reference set: softmax over each query's ``k`` largest affinities.

    The exact softmax over millions of reference pixels is dominated by its largest terms; faiss
    finds them exactly (flat index), so this is the paper's "pixel searching" without the bank.
    """
    import faiss

    index = faiss.IndexFlatIP(ref_feat.shape[1])
    index.add(np.ascontiguousarray(ref_feat, dtype=np.float32))
    feat = np.ascontiguousarray(feat, dtype=np.float32)
    k = int(k)
    out = np.empty((len(feat), ref_values.shape[1]), np.float32)
    # Queries in chunks: a full image's queries times k neighbours (k = the whole bank for the exact
    # softmax) held logits, indices and gathered values of several GB at once. Each query is
    # independent, so the chunks give the same numbers.
    step = max(1, (1 << 22) // max(k, 1))
    for a in range(0, len(feat), step):
        logits, idx = index.search(feat[a:a + step], k)
        w = np.exp(logits - logits.max(1, keepdims=True))
        w /= w.sum(1, keepdims=True)
        out[a:a + step] = np.einsum("qk,qkv->qv", w, ref_values[idx])
    return out
