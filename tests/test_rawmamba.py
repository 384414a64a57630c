"""RAWMamba: the flow it computes, the network's image and video modes, the method on both tracks."""

import json

import numpy as np
import pytest
import torch

from ispsim.methods import create_method
from ispsim.methods.rawmamba import blocks
from ispsim.methods.rawmamba.flow import clip_flows, dis_flow
from ispsim.methods.rawmamba.model import RAWMambaNet


def _texture(h, w, seed=0):
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    img = gaussian_filter(rng.random((3, h, w)), (0, 2, 2))
    return ((img - img.min()) / (img.max() - img.min())).astype(np.float32)


def test_dis_flow_recovers_a_translation_and_points_to_the_reference():
    ref = _texture(96, 128)
    query = np.roll(ref, (2, 3), axis=(1, 2))  # query(p) = ref(p - (2, 3)): flow (dx, dy) = (-3, -2)
    flow = dis_flow(query, ref)
    inner = flow[:, 8:-8, 8:-8]
    assert abs(np.median(inner[0]) + 3) < 0.25 and abs(np.median(inner[1]) + 2) < 0.25
    flows = clip_flows(np.stack([ref, query]), 0)
    assert flows.shape == (2, 2, 96, 128) and not flows[0].any()


def test_dis_flow_names_bad_shapes():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        dis_flow(np.zeros((3, 8, 8)), np.zeros((3, 8, 9)))


def _net(**kw):
    torch.manual_seed(0)
    return RAWMambaNet((8, 16, 16), (1, 1, 1), 1, 4, 4, 4, **kw).eval()


def test_image_mode_reads_only_the_stored_reference_pixels():
    net = _net()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 1, 3, 64, 64, generator=g)
    raw = torch.rand(1, 3, 64, 64, generator=g)
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 4::8, 4::8] = 1
    changed = raw.clone()
    changed[mask.expand_as(raw) == 0] = torch.rand(int((mask == 0).sum()) * 3, generator=g)
    with torch.no_grad():
        a, b = net(x, x[:, 0], raw, mask), net(x, x[:, 0], changed, mask)
        c = net(x, x[:, 0], raw * 0.5, mask)
    torch.testing.assert_close(a, b)
    assert (a - c).abs().max() > 1e-6  # the stored values do matter (an untrained net: weakly)


def test_video_mode_shapes_and_gradients_reach_every_encoder():
    net = _net().train()
    x = torch.rand(2, 3, 3, 32, 48)
    out = net(x, x[:, 0], torch.rand(2, 3, 32, 48), None, torch.randn(2, 3, 2, 32, 48))
    assert out.shape == (2, 3, 3, 32, 48)
    out.square().mean().backward()
    for enc in (net.f1, net.f2, net.f3):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters())
    with pytest.raises(ValueError, match="divide by 16"):
        net(torch.rand(1, 1, 3, 40, 48), torch.rand(1, 3, 40, 48), torch.rand(1, 3, 40, 48))


def test_global_block_is_eq17():
    torch.manual_seed(0)
    block = blocks.ScanBlock(8, "line", channel_attention=True, d_state=4).double()
    f = torch.randn(1, 8, 2, 3, 4, dtype=torch.float64)
    seq = f.flatten(2).transpose(1, 2)  # line order is the grid's own order
    f1 = (seq + block.ssm(block.norm1(seq))).transpose(1, 2).reshape(f.shape)
    inner = f1 + block.ca(f)
    expected = f1 + block.dwc(block.norm2(inner.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3))
    torch.testing.assert_close(block(f), expected)


def test_ablations_switch_off_their_part():
    assert _net(geb=False).ume[0].geb is None and _net(leb=False).ume[0].leb is None
    assert isinstance(_net(local=False).lta[0].local, torch.nn.Identity)
    assert isinstance(_net(global_=False).lta[0].global_, torch.nn.Identity)
    m = create_method("rawmamba-no-leb", "quick")
    assert m.settings["leb"] is False and m.info.experimental and m.settings_file == "rawmamba"


def test_image_method_trains_saves_and_reloads(tmp_path, olympus_store):
    from ispsim.bench.runner import make_reference
    from ispsim.bench.suite import SuiteDataset

    m = create_method("rawmamba", "quick")
    m.fit(olympus_store, progress=False)
    card = list((tmp_path / "cache" / "checkpoints").glob("rawmamba-quick-image-*.json"))
    assert len(card) == 1 and '"track": "image"' in card[0].read_text()
    arrays, params = olympus_store.read_sample("test", 0), olympus_store.params("test", 0)
    ds = SuiteDataset(recipe="nus", size="quick", split="test", track="image", reference="uniform", rate=1 / 64)
    ref = make_reference(m, arrays, params, ds, 0, 0)
    out = m.reconstruct({"srgb": arrays["srgb"], "camera": params["camera"]}, ref)
    assert out.shape == arrays["raw"].shape and np.isfinite(out).all()
    # the learning curve's last point is the model's score on the validation image, as the harness runs it
    curve = json.loads(card[0].read_text())["curve"]
    assert [k for k, _ in curve] == list(range(1, 5))
    i = olympus_store.done_indices("val")[0]
    v, vp = olympus_store.read_sample("val", i), olympus_store.params("val", i)
    got = np.clip(m.reconstruct({"srgb": v["srgb"], "camera": vp["camera"]}, make_reference(m, v, vp, ds, 0, i)), 0, 1)
    assert curve[-1][1] == pytest.approx(10 * np.log10(1 / np.mean((got - v["raw"]) ** 2)), abs=2e-3)
    again = create_method("rawmamba", "quick")
    again.fit(olympus_store, progress=False)  # from the cache, not retrained
    np.testing.assert_array_equal(again.reconstruct({"srgb": arrays["srgb"], "camera": params["camera"]}, ref), out)
    with pytest.raises(Exception, match="video model"):
        m.reconstruct_video({"srgb": arrays["srgb"][None]}, ref)


def test_video_method_on_a_clip(tmp_path, monkeypatch):
    from ispsim.datasets.build import build
    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.store import DatasetStore
    from ispsim.methods.base import Reference
    from ispsim.stages import cfa, demosaic

    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    build(load_recipe("rvd"), tmp_path / "v", "quick", progress=False)
    store = DatasetStore(tmp_path / "v")
    m = create_method("rawmamba", "quick")
    m.fit(store, progress=False)
    a, p = store.read_sample("test", 0), store.params("test", 0)
    pattern = p["records"][0]["cfa"]
    first = demosaic.demosaic(cfa.unpack(a["raw"][0], pattern), pattern)
    out = m.reconstruct_video({"srgb": a["srgb"], "camera": p["camera"]}, Reference("first_frame", srgb=a["srgb"][0], raw=first, frame=0))
    assert out.shape == (a["srgb"].shape[0] - 1, *first.shape) and np.isfinite(out).all()


def test_warp_reads_the_reference_at_the_flowed_position():
    from ispsim.methods.rawmamba.model import warp

    ref = torch.from_numpy(_texture(32, 48))[None]
    query = torch.roll(ref, (2, 3), dims=(2, 3))
    flow = torch.zeros(1, 2, 32, 48)
    flow[:, 0], flow[:, 1] = -3, -2
    torch.testing.assert_close(warp(ref, flow)[..., 4:, 4:], query[..., 4:, 4:])


def test_convnext_weights_load_from_timm_names(tmp_path, capsys):
    """A file with timm's ConvNeXt-T names (written here: no download) lands on the right tensors;
    the 4-channel stem gets zeros for the mask channel; absent weights are said, not invented."""
    from ispsim.methods.rawmamba.model import ConvNeXtEncoder, load_convnext

    g = torch.Generator().manual_seed(0)
    r = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    state = {"stem.0.weight": r(8, 3, 4, 4), "stem.0.bias": r(8), "stem.1.weight": r(8), "stem.1.bias": r(8),
             "stages.0.blocks.0.conv_dw.weight": r(8, 1, 7, 7), "stages.0.blocks.0.mlp.fc1.weight": r(32, 8),
             "stages.0.blocks.0.mlp.fc2.weight": r(8, 32), "stages.0.blocks.0.gamma": r(8),
             "stages.1.downsample.1.weight": r(16, 8, 2, 2), "head.fc.weight": r(1000, 16)}
    torch.save(state, tmp_path / "convnext.pth")
    enc = ConvNeXtEncoder(4, (8, 16), (1, 1))
    assert load_convnext(enc, tmp_path / "convnext.pth") == 9
    torch.testing.assert_close(enc.down[0][0].weight[:, :3], state["stem.0.weight"])
    assert not enc.down[0][0].weight[:, 3].any()
    torch.testing.assert_close(enc.stages[0][0].dw.weight, state["stages.0.blocks.0.conv_dw.weight"])
    torch.testing.assert_close(enc.stages[0][0].mlp[2].weight, state["stages.0.blocks.0.mlp.fc2.weight"])
    torch.testing.assert_close(enc.stages[0][0].gamma, state["stages.0.blocks.0.gamma"])
    torch.testing.assert_close(enc.down[1][1].weight, state["stages.1.downsample.1.weight"])
    m = create_method("rawmamba", "quick")
    m.settings["encoder_weights"] = str(tmp_path / "missing.safetensors")
    assert m._pretrained(m._net()) is False and "train from scratch" in capsys.readouterr().err


@pytest.mark.slow
def test_untrained_network_with_base_starts_from_the_global_fit(olympus_store):
    """Zero head weights: before training, rawmamba (base = global-fit) is global-fit with the
    stored samples put back on the image track, and the mean of global-fit (fitted on the first
    frame) and the first frame's RAW warped by the DIS flow on video."""
    from ispsim.bench.runner import make_reference
    from ispsim.bench.suite import SuiteDataset
    from ispsim.methods.base import Reference
    from ispsim.methods.baselines import GlobalFit
    from ispsim.methods.rawmamba.model import warp

    m = create_method("rawmamba", "quick")
    assert m.settings["base"] == "global-fit" and create_method("rawmamba-no-base", "quick").settings["base"] == ""
    m.models = {"image": m._net().eval(), "video": m._net().eval()}
    fit = GlobalFit(dict(GlobalFit.defaults))
    arrays, params = olympus_store.read_sample("test", 0), olympus_store.params("test", 0)
    ds = SuiteDataset(recipe="nus", size="quick", split="test", track="image", reference="uniform", rate=1 / 64)
    ref = make_reference(m, arrays, params, ds, 0, 0)
    inputs = {"srgb": arrays["srgb"], "camera": params["camera"]}
    expected = fit.reconstruct(inputs, ref)
    expected[:, ref.mask] = ref.raw[:, ref.mask]
    np.testing.assert_allclose(m.reconstruct(inputs, ref), expected, rtol=0, atol=1e-7)
    frames = np.stack([np.roll(arrays["srgb"], 2 * k, axis=-1) for k in range(3)]).astype(np.float32)
    first = Reference("first_frame", srgb=frames[0], raw=arrays["raw"], frame=0)
    video = {"srgb": frames, "camera": params["camera"]}
    flows = torch.from_numpy(clip_flows(frames, 0, m.settings["flow_preset"])[1:])
    warped = warp(torch.from_numpy(arrays["raw"])[None].expand(len(flows), -1, -1, -1), flows).numpy()
    expected = (fit.reconstruct_video(video, first) + warped) / 2
    np.testing.assert_allclose(m.reconstruct_video(video, first), expected, rtol=0, atol=1e-6)
    with pytest.raises(Exception, match="base"):
        type(m)({**m.settings, "base": "sam"}, "quick")


def test_ablation_script_runs_on_the_video_track(tmp_path, monkeypatch):
    import json

    from ispsim.methods.rawmamba.ablation import main

    monkeypatch.setenv("ISPSIM_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    assert main(["--profile", "quick", "--size", "quick", "--track", "video", "--steps", "1",
                 "--variants", "rawmamba,rawmamba-no-geb", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "rawmamba-quick-1-video-base-global-fit.json").read_text())
    assert set(rows) == {"rawmamba", "rawmamba-no-geb"} and all(r["clips"] == 2 for r in rows.values())
    assert all(np.isfinite(r["psnr"]) for r in rows.values())
