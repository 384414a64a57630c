import pytest
import torch

from ispsim.methods.cam.model import Reconstructor, Sampler, superpixel_loss, superpixel_max_pool
from ispsim.methods.cam.train import fine_tune, masked_l1, meta_gradients, random_mask, train_step
from ispsim.methods.nn import UNet

SMALL = dict(widths=(4, 8), bottleneck=8)


def batch(seed=0, b=2, h=32, w=48):
    g = torch.Generator().manual_seed(seed)
    srgb = torch.rand(b, 3, h, w, generator=g)
    raw = srgb**2.2 * torch.tensor([0.5, 1.0, 0.7]).view(1, 3, 1, 1)
    return srgb, raw


def test_one_pixel_per_cell_at_the_configured_rate():
    torch.manual_seed(0)
    sampler = Sampler(**SMALL, cell=8)
    srgb, raw = batch()
    mask, q = sampler(srgb, raw)
    assert q.shape == (2, 9, 32, 48) and torch.allclose(q.sum(1), torch.ones(2, 32, 48))
    per_cell = mask.detach().reshape(2, 4, 8, 6, 8).sum(dim=(2, 4))
    assert torch.equal(per_cell, torch.ones(2, 4, 6))
    assert mask.detach().mean().item() == 1 / 64


def test_gradients_reach_the_sampler_through_the_straight_through_estimator():
    torch.manual_seed(0)
    sampler, recon = Sampler(**SMALL), Reconstructor(**SMALL)
    srgb, raw = batch()
    mask, _ = sampler(srgb, raw)
    torch.nn.functional.l1_loss(recon(srgb, raw, mask), raw).backward()
    grads = [p.grad for p in sampler.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # The estimator passes gradient only where a pixel was chosen.
    score = torch.rand(1, 1, 16, 16, requires_grad=True)
    hard = superpixel_max_pool(score, 8)
    hard.sum().backward()
    assert torch.equal(score.grad, hard.detach())


@pytest.mark.slow
def test_superpixel_loss_is_zero_for_a_flat_image_and_differentiable():
    q = torch.zeros(1, 9, 16, 16)
    q[:, 4] = 1.0  # every pixel belongs to its own cell
    srgb = torch.full((1, 3, 16, 16), 0.3)
    raw = torch.full((1, 3, 16, 16), 0.1)
    loss = superpixel_loss(q, srgb, raw, 8)
    # Colour reconstructs exactly; xy is each cell's centroid, off by the in-cell spread.
    expected_xy = (10 / 8) ** 2 * (torch.arange(8.0) - 3.5).pow(2).mean()
    assert torch.allclose(loss, expected_xy, rtol=1e-5)
    logits = torch.randn(1, 9, 16, 16, dtype=torch.float64, requires_grad=True)
    f = lambda l: superpixel_loss(torch.softmax(l, 1), srgb.double(), raw.double(), 8)  # noqa: E731
    assert torch.autograd.gradcheck(f, (logits,))


def test_meta_loss_step_changes_the_reconstructor():
    torch.manual_seed(0)
    recon = Reconstructor(**SMALL)
    srgb, raw = batch()
    before = [p.detach().clone() for p in recon.parameters()]
    opt = torch.optim.Adam(recon.parameters(), lr=1e-3)
    opt.zero_grad()
    meta_gradients(recon, srgb, raw, random_mask(raw.shape, 1 / 64, torch.Generator().manual_seed(1)))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in recon.parameters())
    opt.step()
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, recon.parameters()))


def test_joint_training_lowers_the_loss():
    torch.manual_seed(0)
    sampler, recon = Sampler(**SMALL), Reconstructor(**SMALL)
    opt = torch.optim.Adam(list(sampler.parameters()) + list(recon.parameters()), lr=1e-2)
    srgb, raw = batch()
    losses = [train_step(sampler, recon, opt, srgb, raw, rate=1 / 64, meta_steps=1)["l1"] for _ in range(30)]
    assert losses[-1] < 0.8 * losses[0]  # a model that does not learn stays where it started


def test_fine_tuning_lowers_the_loss_on_the_stored_samples():
    torch.manual_seed(0)
    recon = Reconstructor(**SMALL).eval()
    srgb, raw = batch(b=1)
    mask = random_mask(raw.shape, 1 / 64, torch.Generator().manual_seed(2))
    original = {k: v.clone() for k, v in recon.state_dict().items()}
    with torch.no_grad():
        before = masked_l1(recon(srgb, raw, mask), raw, mask)
    tuned = fine_tune(recon, srgb, raw, mask, steps=10, lr=1e-2)
    with torch.no_grad():
        after = masked_l1(tuned(srgb, raw, mask), raw, mask)
    assert after < before
    assert all(torch.equal(v, recon.state_dict()[k]) for k, v in original.items())  # a copy was tuned


def test_unet_checks_sizes():
    net = UNet(3, 3, widths=(4, 8), bottleneck=8)
    assert net(torch.rand(1, 3, 16, 20)).shape == (1, 3, 16, 20)
    import pytest

    with pytest.raises(ValueError, match="divide by 4"):
        net(torch.rand(1, 3, 18, 20))


def test_cam_trains_saves_a_checked_checkpoint_and_reconstructs(tmp_path, olympus_store):
    import numpy as np

    from ispsim.methods import Reference, create_method
    from ispsim.methods.checkpoints import load_checkpoint

    store = olympus_store
    cam = create_method("cam", "quick")
    cam.settings.update(steps=3)
    cam.fit(store, progress=False)
    saved = list((tmp_path / "cache" / "checkpoints").glob("*.pt"))
    assert len(saved) == 1
    state, card = load_checkpoint(saved[0])
    assert card["camera"] == "olympus_e_pl6" and card["settings"]["steps"] == 3 and "sampler" in state
    a = store.read_sample("test", 0)
    mask = cam.sample(a["srgb"], a["raw"], "olympus_e_pl6")
    assert mask.sum() == a["raw"].shape[1] * a["raw"].shape[2] // 64
    out = cam.reconstruct({"srgb": a["srgb"], "camera": "olympus_e_pl6"},
                          Reference("sampled", srgb=a["srgb"], raw=a["raw"], mask=mask))
    assert out.shape == a["raw"].shape and np.isfinite(out).all()
    again = create_method("cam", "quick")
    again.settings.update(steps=3)
    again.fit(store, progress=False)  # loads, does not retrain
    assert again.checkpoint() == cam.checkpoint()
    saved[0].write_bytes(saved[0].read_bytes()[:-10] + b"0123456789")
    import pytest

    from ispsim.errors import ConfigError, DataError

    with pytest.raises(DataError, match="does not match its model card"):
        load_checkpoint(saved[0])


def test_bench_train_writes_checkpoints_with_cards(tmp_path):
    import json

    from ispsim.cli.bench import main
    from ispsim.datasets.recipe import load_recipe

    text = open(load_recipe("nus").path).read().replace('cameras = ["sony", "samsung", "olympus"]', 'cameras = ["sony"]')
    (tmp_path / "r.toml").write_text(text)
    assert main(["train", "cam", "--profile", "quick", "--recipe", str(tmp_path / "r.toml"), "--size", "quick",
                 "--out", str(tmp_path / "ckpt"), "--data-dir", str(tmp_path / "data"), "-q"]) == 0
    card = json.loads((tmp_path / "ckpt" / "cam-quick-sony_slt_a57.json").read_text())
    assert card["command"].startswith("bench train cam --profile quick") and len(card["sha256"]) == 64
    steps = [s for s, _ in card["curve"]]  # the learning curve on the validation images, a point each tenth
    assert steps == sorted(steps) and steps[-1] == card["settings"]["steps"] and all(5 < v < 100 for _, v in card["curve"])
    assert main(["train", "sam-rbf"]) == 2


def test_a_longer_run_repeats_the_shorter_one_and_the_schedule_report_says_so(tmp_path, monkeypatch):
    """CAM's constant learning rate and seeded data order: a longer run's curve extends the
    shorter one's, point for point where they share a step (the schedule report's premise)."""
    import json

    from ispsim.datasets.recipe import load_recipe
    from ispsim.methods.cam.schedule import main

    monkeypatch.setenv("ISPSIM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    text = open(load_recipe("nus").path).read().replace('cameras = ["sony", "samsung", "olympus"]', 'cameras = ["olympus"]')
    (tmp_path / "nus.toml").write_text(text)
    curves = {}
    for steps in (6, 12):
        assert main(["--camera", "olympus", "--profile", "quick", "--recipe", str(tmp_path / "nus.toml"),
                     "--size", "quick", "--steps", str(steps), "--out", str(tmp_path / str(steps))]) == 0
        (report,) = (tmp_path / str(steps)).glob("*.json")
        curves[steps] = dict(json.loads(report.read_text())["curve"])
        assert (tmp_path / str(steps) / report.with_suffix(".png").name).is_file()
    assert set(curves[6]) == set(range(1, 7)) and set(curves[12]) == set(range(1, 13))
    for step in range(1, 7):
        assert curves[12][step] == curves[6][step]
    assert "test PSNR per image" in (tmp_path / "12" / report.with_suffix(".md").name).read_text()
