import numpy as np
import pytest
import torch

from ispsim.bench.metrics import structural_similarity
from ispsim.methods.nn import ssim
from ispsim.methods.priorraw.bank import build_bank, kmeans_ip, nearest_ip, search_topk
from ispsim.methods.priorraw.model import Reconstructor, SearchEncoder, assemble, half


def test_torch_ssim_matches_the_metric_and_has_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 40, 52, generator=g, dtype=torch.float64)
    y = (x + 0.1 * torch.rand(2, 3, 40, 52, generator=g, dtype=torch.float64)).clamp(0, 1)
    want = np.mean([structural_similarity(a.numpy(), b.numpy()) for a, b in zip(x, y)])
    y.requires_grad_(True)
    got = ssim(x, y)
    assert abs(float(got.detach()) - want) < 1e-10
    got.backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert abs(float(ssim(x, x)) - 1) < 1e-12


def test_assemble_is_the_softmax_affinity_in_chunks():
    g = torch.Generator().manual_seed(1)
    feat, keys, values = torch.randn(2, 5, 3, 4, generator=g), torch.randn(30, 5, generator=g), torch.rand(30, 3, generator=g)
    q = feat.permute(0, 2, 3, 1).reshape(-1, 5)
    want = (torch.softmax(q @ keys.T, 1) @ values).reshape(2, 3, 4, 3).permute(0, 3, 1, 2)
    assert torch.allclose(assemble(feat, keys, values, chunk=7), want, atol=1e-6)


def test_bank_groups_the_nearest_pixels_of_each_centroid():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 6)).astype(np.float32) * 3
    feat = np.repeat(centres, 50, axis=0) + 0.05 * rng.normal(size=(400, 6)).astype(np.float32)
    srgb, raw = rng.random((400, 3), dtype=np.float32), rng.random((400, 3), dtype=np.float32)
    cent = kmeans_ip(feat, 8, seed=0)
    idx = nearest_ip(feat, cent, 10)
    brute = np.argsort(-(cent @ feat.T), axis=1)[:, :10]
    assert all(set(a) == set(b) for a, b in zip(idx, brute))  # faiss's exact search = brute force
    bank = build_bank(feat, srgb, raw, clusters=8, group=10, seed=0)
    assert len(bank) == 8 and bank.feat.shape == (8, 6) and bank.raw.shape == (8, 3)
    np.testing.assert_allclose(bank.raw, raw[idx].mean(1), atol=1e-6)
    with pytest.raises(ValueError, match="cannot make 500 clusters"):
        kmeans_ip(feat, 500)


def test_top_k_search_over_everything_is_the_full_softmax():
    rng = np.random.default_rng(2)
    q, ref, vals = rng.normal(size=(20, 4)), rng.normal(size=(50, 4)), rng.random((50, 3))
    full = assemble(torch.tensor(q.T.reshape(1, 4, 4, 5)), torch.tensor(ref), torch.tensor(vals))
    got = search_topk(q, ref, vals, k=50)
    np.testing.assert_allclose(got, full[0].reshape(3, -1).T.numpy(), atol=1e-5)


def test_top_k_assembly_equals_faiss_top_k_search():
    rng = np.random.default_rng(3)
    q, ref, vals = rng.normal(size=(20, 4)), rng.normal(size=(50, 4)), rng.random((50, 3))
    for k in (1, 2, 7):
        got = assemble(torch.tensor(q.T.reshape(1, 4, 4, 5)), torch.tensor(ref), torch.tensor(vals), chunk=6, topk=k)
        np.testing.assert_allclose(got[0].reshape(3, -1).T.numpy(), search_topk(q, ref, vals, k=k), atol=1e-5)
    nearest = vals[np.argmax(q @ ref.T, axis=1)]
    got = assemble(torch.tensor(q.T.reshape(1, 4, 4, 5)), torch.tensor(ref), torch.tensor(vals), topk=1)
    np.testing.assert_allclose(got[0].reshape(3, -1).T.numpy(), nearest, atol=1e-12)
    full = assemble(torch.tensor(q.T.reshape(1, 4, 4, 5)), torch.tensor(ref), torch.tensor(vals))
    assert torch.equal(assemble(torch.tensor(q.T.reshape(1, 4, 4, 5)), torch.tensor(ref), torch.tensor(vals), topk=50), full)


def test_contrastive_training_lowers_the_assembly_loss():
    from ispsim.methods import create_method

    g = torch.Generator().manual_seed(0)
    # Two "cameras" of the same scene content: RAW is a channel-dependent power of sRGB, so the
    # encoder must learn colour, not position, to find the matching pixels.
    srgb = torch.rand(8, 3, 32, 32, generator=g)
    srgb = torch.nn.functional.avg_pool2d(srgb, 5, 1, 2)
    raw = srgb ** torch.tensor([2.2, 1.8, 2.6]).view(1, 3, 1, 1)
    m = create_method("priorraw", "quick")
    m.settings.update(enc_steps=60, enc_patch=32, enc_lr=3e-3)
    torch.manual_seed(0)
    enc = SearchEncoder(8, 16)

    def loss():
        with torch.no_grad():
            f = enc(srgb[4:])
            keys = f.permute(0, 2, 3, 1).reshape(-1, 16)
            return float(torch.nn.functional.mse_loss(assemble(enc(srgb[:4]), keys, half(raw[4:]).permute(0, 2, 3, 1).reshape(-1, 3)),
                                                      half(raw[:4])))

    before = loss()
    m.train_encoder(enc, [srgb[:4], raw[:4]], [srgb[4:], raw[4:]], g, progress=False)
    assert loss() < 0.5 * before


@pytest.mark.parametrize("flags", [(False, False, False), (True, False, False), (True, True, False), (True, True, True)])
def test_reconstructor_ablation_variants_run(flags):
    rec = Reconstructor(dim=8, channels=8, heads=2, widths=(4, 8, 16), pool=4, prior_raw=flags[0], reliable=flags[1],
                        bank_attention=flags[2])
    srgb = torch.rand(2, 3, 32, 48)
    bank = {"feat": torch.randn(10, 8), "raw": torch.rand(10, 3), "srgb": torch.rand(10, 3)}
    out = rec(srgb, torch.rand(2, 3, 16, 24), torch.rand(2, 3, 16, 24), bank=bank)
    assert out.shape == (2, 3, 32, 48) and (out > 0).all() and (out < 1).all()
    out.mean().backward()
    grads = {n for n, p in rec.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(n.startswith("mha") for n in grads) == flags[2]
    assert any(n.startswith("conf") for n in grads) == flags[1]


def test_priorraw_trains_ships_a_bank_and_needs_no_reference_bytes(tmp_path, olympus_store):
    from ispsim.bench.runner import make_reference
    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import load_checkpoint

    store = olympus_store
    m = create_method("priorraw", "quick")
    m.fit(store, progress=False)
    (saved,) = (tmp_path / "cache" / "checkpoints").glob("*.pt")
    state, card = load_checkpoint(saved)
    assert state["bank"]["feat"].shape == (64, 16) and card["bank"]["clusters"] == 64
    assert card["data"]["reference_pixels"] == 2 * 192 * 288  # half of the 4 training images, at half size
    a = store.read_sample("test", 0)
    ref = make_reference(m, a, store.params("test", 0), None, 0, 0)
    assert ref.source == "prior_bank" and ref.nbytes == 0
    out = m.reconstruct({"srgb": a["srgb"], "camera": "olympus_e_pl6"}, ref)
    assert out.shape == a["raw"].shape and np.isfinite(out).all()
    # the learning curve's last point is the shipped model's score on the validation image, as the harness runs it
    assert [k for k, _ in card["curve"]] == list(range(1, 11)) and "per image" in card["curve_metric"]
    v = store.read_sample("val", store.done_indices("val")[0])
    got = np.clip(m.reconstruct({"srgb": v["srgb"], "camera": "olympus_e_pl6"}, ref), 0, 1)
    assert card["curve"][-1][1] == pytest.approx(10 * np.log10(1 / np.mean((got - v["raw"]) ** 2)), abs=2e-3)
    search = create_method("priorraw-search", "quick")
    search.fit(store, progress=False)  # the same checkpoint: loads, does not retrain
    assert search.checkpoint() == m.checkpoint()
    assembled = search.reconstruct({"srgb": a["srgb"], "camera": "olympus_e_pl6"}, ref)
    assert assembled.shape == a["raw"].shape and not np.allclose(assembled, out)


@pytest.mark.slow
def test_ablation_script_runs_on_the_quick_store(tmp_path, monkeypatch):
    import json

    from ispsim.methods.priorraw.ablation import main

    monkeypatch.setenv("ISPSIM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    args = ["--camera", "olympus", "--profile", "quick", "--size", "quick", "--search-images", "1", "--out", str(out),
            "--banks", "250x16,1000x4"]  # two of the default sweep: the rest cost a minute more
    assert main([*args, "--skip-network"]) == 0
    data = json.loads((out / "priorraw-quick-olympus_e_pl6.json").read_text())
    banks = {k.split(",")[0] for k in data["search"] if k.startswith("bank")}
    assert "whole reference set" in data["search"] and {"bank 250 x 16", "bank 1000 x 4"} < banks and len(banks) == 3
    with pytest.raises(SystemExit):
        main([*args[:-2], "--banks", "250by16"])
    assert all(np.isfinite(v["psnr"]) for v in data["search"].values())


def test_the_white_balance_bound_fits_constant_gains_and_the_true_gains_score_higher(olympus_store):
    import importlib.util
    from pathlib import Path

    from ispsim.bench.metrics import peak_signal_noise_ratio as psnr

    path = Path(__file__).parents[1] / "benchmarks" / "ablations" / "wb_bound.py"
    spec = importlib.util.spec_from_file_location("wb_bound", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    items = mod.inverses(olympus_store, "test", None)["olympus_e_pl6"]
    c = np.array([0.5, 1.0, 0.8])
    exact = [(unit * c[:, None, None], true, unit) for _, true, unit in items]
    np.testing.assert_allclose(mod.constant_gains(exact), c, rtol=1e-6)  # least squares of an exact fit
    fit = mod.constant_gains(mod.inverses(olympus_store, "train", None)["olympus_e_pl6"])
    true = np.mean([psnr(raw, t.clip(0, 1)) for raw, t, _ in items])
    constant = np.mean([psnr(raw, (u * fit[:, None, None]).clip(0, 1)) for raw, _, u in items])
    assert true > constant + 3  # each image's gains are its own illuminant's: a constant cannot match them


def test_whole_bank_search_in_query_chunks_equals_the_direct_softmax():
    """The exact softmax over a 5000-entry bank, searched in chunks of queries (memory), against
    the one-shot formula."""
    import faiss

    from ispsim.methods.priorraw.bank import search_topk

    g = np.random.default_rng(0)
    ref, vals = g.standard_normal((5000, 8)).astype(np.float32), g.random((5000, 3)).astype(np.float32)
    q = g.standard_normal((3000, 8)).astype(np.float32)
    index = faiss.IndexFlatIP(8)
    index.add(ref)
    logits, idx = index.search(q, 5000)
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    np.testing.assert_allclose(search_topk(q, ref, vals, k=5000), np.einsum("qk,qkv->qv", w, vals[idx]), atol=1e-5)
