"""The restoration track: differentiable PTP, RDDM's networks and CMB-LoRA, the baselines, the runner."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from ispsim.errors import ConfigError
from ispsim.pipeline import Pipeline, Record
from ispsim.stages import cfa, quantize

from .conftest import psnr, smooth_raw_rgb


@pytest.fixture(scope="module")
def rddm_store(tmp_path_factory):
    from ispsim.datasets.build import build
    from ispsim.datasets.recipe import load_recipe
    from ispsim.datasets.store import DatasetStore

    path = tmp_path_factory.mktemp("rddm") / "s"
    build(load_recipe("rddm"), path, "quick", progress=False)
    return DatasetStore(path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _record(store, i=0):
    return Record.from_dict(store.params("test", i)["record"])


def test_post_tone_is_finish_before_quantisation_on_both_backends(rddm_store):
    record = _record(rddm_store)
    x = rddm_store.read_sample("test", 0)["linear"]
    ref = Pipeline.post_tone(x, record)
    np.testing.assert_array_equal(quantize.quantize(ref, record.output_bits), Pipeline.finish(x, record))
    out = Pipeline.post_tone(torch.from_numpy(x), record).numpy()
    np.testing.assert_allclose(out, ref, atol=2e-6)


def test_post_tone_gradient_matches_finite_differences(rddm_store):
    record = _record(rddm_store)
    x = torch.rand(3, 4, 5, dtype=torch.float64) * 0.15 + 0.05  # inside [0, 1] after gains: no clipping kink
    assert torch.autograd.gradcheck(lambda t: Pipeline.post_tone(t, record), (x.requires_grad_(),), eps=1e-6, atol=1e-5)


def test_pairs_crops_keep_the_bayer_phase(rddm_store):
    from ispsim.methods.restoration import Pairs

    pairs = Pairs(rddm_store, "train")
    b = pairs.batch(6, 32, torch.Generator().manual_seed(0))
    assert b["lq"].shape == (6, 1, 32, 32) and b["linear"].shape == (6, 3, 32, 32)
    for lq, lin, bayer in zip(b["lq"], b["linear"], b["bayer"]):
        # The noise-free mosaic of the clean crop correlates with the LQ crop only in the right phase.
        right = np.corrcoef(cfa.mosaic(lin.numpy(), bayer).ravel(), lq.numpy().ravel())[0, 1]
        other = {"RGGB": "BGGR", "BGGR": "RGGB", "GRBG": "GBRG", "GBRG": "GRBG"}[bayer]
        wrong = np.corrcoef(cfa.mosaic(lin.numpy(), other).ravel(), lq.numpy().ravel())[0, 1]
        assert right > wrong


def test_pairs_refuse_other_styles(olympus_store):
    from ispsim.methods.restoration import Pairs

    with pytest.raises(ConfigError, match="rddm-style"):
        Pairs(olympus_store)


def test_classic_isp_renders_a_clean_mosaic_like_the_camera():
    from ispsim.methods.restoration import classic_isp

    record = Pipeline("sony").profile_record()
    rgb = smooth_raw_rgb(64, 64, record.gains, 0.1, 0.4)
    for bayer in ("RGGB", "GBRG"):
        srgb = classic_isp(cfa.mosaic(rgb, bayer), bayer, record, "sony_slt_a57", 0.0)
        assert psnr(Pipeline.finish(rgb, record)[:, 4:-4, 4:-4], srgb[:, 4:-4, 4:-4]) > 40


@pytest.mark.slow
def test_nothing_imports_diffusers_or_peft_until_rddm_builds_a_network():
    code = ("import sys, ispsim.methods as m, ispsim.bench.runner, ispsim.cli.bench\n"
            "meth = m.create_method('rddm', 'quick'); m.list_methods()\n"
            "assert not {'diffusers', 'peft'} & set(sys.modules), sorted({'diffusers', 'peft'} & set(sys.modules))\n"
            "meth._net()\nassert {'diffusers', 'peft'} <= set(sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_one_step_is_the_x0_prediction_of_stable_diffusions_schedule():
    from ispsim.methods import create_method

    net = create_method("rddm", "quick")._base()
    betas = np.linspace(math.sqrt(0.00085), math.sqrt(0.012), 1000) ** 2  # SD's "scaled_linear" schedule
    a = float(np.prod(1 - betas[: net.timestep + 1]))
    assert net.alpha_bar == pytest.approx(a, rel=1e-5)
    z = torch.randn(2, net.unet.config.in_channels, 8, 8)
    with torch.no_grad():
        eps = net.unet(z, net.timestep).sample
        np.testing.assert_allclose(net.refine(z), (z - math.sqrt(1 - a) * eps) / math.sqrt(a), atol=1e-5)


def _perturbed_net(method):
    net = method._net()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "lora_B" in name:  # peft initialises B to zero: every group would be the identity
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return net.eval()


def test_cmb_lora_picks_each_samples_group_within_a_batch():
    from ispsim.methods import create_method

    method = create_method("rddm", "quick")
    net = _perturbed_net(method)
    x = torch.rand(4, 1, 16, 16)
    orders = ["RGGB", "BGGR", "GRBG", "RGGB"]
    with torch.no_grad():
        mixed = method.run(net, x, orders)
        alone = torch.cat([method.run(net, x[k:k + 1], [o]) for k, o in enumerate(orders)])
        as_bggr = method.run(net, x[:1], ["BGGR"])
    np.testing.assert_allclose(mixed, alone, atol=1e-4)  # batch size changes float summation order only
    assert (as_bggr - mixed[:1]).abs().max() > 1e-3  # another order, another group, another output
    names = {n.split("lora_A.")[1].split(".")[0] for n, _ in net.named_parameters() if "lora_A." in n}
    assert names == {"RGGB", "BGGR", "GRBG", "GBRG"}


def test_a_named_group_serves_every_sample_and_the_diagnostic_tables_it(rddm_store, cache):
    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import save_checkpoint
    from ispsim.methods.rddm import groups
    from ispsim.methods.rddm.model import set_group

    method = create_method("rddm", "quick")
    net = _perturbed_net(method)
    x = torch.rand(2, 1, 16, 16)
    planes = torch.from_numpy(cfa.masks("RGGB", 16, 16)).float()
    with torch.no_grad():
        got = method.run(net, x, ["RGGB", "RGGB"], group="BGGR")
        set_group(net.vae.encoder, "BGGR")
        set_group(net.unet, "BGGR")
        np.testing.assert_array_equal(got, net(x, planes))  # BGGR's weights, RGGB's planes
        assert (got - method.run(net, x, ["RGGB", "RGGB"])).abs().max() > 1e-3
    with pytest.raises(ConfigError, match="no LoRA group 'shared'"):
        method.run(net, x, ["RGGB", "RGGB"], group="shared")

    path = cache / "rddm-quick-all.pt"
    save_checkpoint(net.state_dict(), path, {"method": "rddm", "settings": method.settings})
    loaded = groups.load(path, "quick")
    scores = groups.cross_scores(loaded, rddm_store, per_order=1, progress=False)
    orders = sorted({rddm_store.params("test", i)["bayer"] for i in rddm_store.done_indices("test")})
    assert set(scores) == {(o, g) for o in orders for g in method.groups()}
    from ispsim.bench.metrics import peak_signal_noise_ratio
    from ispsim.methods.base import Reference

    for o in orders:  # an image through its own order's group is what reconstruct gives
        i = next(i for i in rddm_store.done_indices("test") if rddm_store.params("test", i)["bayer"] == o)
        a, prm = rddm_store.read_sample("test", i), rddm_store.params("test", i)
        out = loaded.reconstruct({"lq_raw": a["lq_raw"], "bayer": o, "record": _record(rddm_store, i)}, Reference("none"))
        assert scores[(o, o)]["psnr"] == [pytest.approx(peak_signal_noise_ratio(a["linear"], out))]
    table = groups.table(scores, list(method.groups()))
    assert len(table.splitlines()) == 2 + len(orders)
    with pytest.raises(ConfigError, match="no such RDDM checkpoint"):
        groups.load(cache / "absent.pt", "quick")


def test_all_in_one_shares_one_group():
    from ispsim.methods import create_method

    method = create_method("rddm-allinone", "quick")
    method.settings["encoder_input"] = "repeat"  # the order then reaches the network through its group alone
    net = _perturbed_net(method)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        np.testing.assert_array_equal(method.run(net, x, ["RGGB"]), method.run(net, x, ["GBRG"]))
    assert {n.split("lora_A.")[1].split(".")[0] for n, _ in net.named_parameters() if "lora_A." in n} == {"shared"}


@pytest.mark.parametrize("name", ["rddm", "rddm-allinone"])
def test_the_encoder_sees_each_photosite_in_its_own_colours_plane(name, monkeypatch):
    from ispsim.methods import create_method
    from ispsim.stages import cfa

    method = create_method(name, "quick")
    net = _perturbed_net(method)
    rgb = torch.rand(3, 3, 16, 16)
    orders = ["GRBG", "RGGB", "GRBG"]
    mosaic = torch.stack([cfa.mosaic(x, o) for x, o in zip(rgb, orders)])
    seen, encode = [], net.encode

    def spy(x3):
        seen.append(x3)
        return encode(x3)

    monkeypatch.setattr(net, "encode", spy)
    with torch.no_grad():
        method.run(net, mosaic, orders)
    got = torch.cat(seen)  # split by order: GRBG's two samples, then RGGB's
    want = torch.stack([rgb[k] * torch.from_numpy(cfa.masks(orders[k], 16, 16)) for k in (0, 2, 1)])
    np.testing.assert_array_equal(got, want)


def test_a_bad_encoder_input_is_refused_by_name():
    from ispsim.methods.rddm.method import RDDM

    with pytest.raises(ConfigError, match="encoder_input"):
        RDDM({**RDDM.defaults, "encoder_input": "packed"}, "quick")


def test_rvae_pretraining_learns_to_reconstruct_linear_images(rddm_store, cache):
    from ispsim.methods import create_method
    from ispsim.methods.restoration import Pairs

    method = create_method("rddm", "quick")
    method.settings.update(rvae_steps=60, rvae_lr=3e-3)
    pairs = Pairs(rddm_store)
    net = method._base()
    x = pairs.linear[:4, :, :32, :32]
    with torch.no_grad():
        before = (net.autoencode(x) - x).abs().mean()
    method.pretrain_rvae(net, pairs, rddm_store, progress=False)
    with torch.no_grad():
        after = (net.autoencode(x) - x).abs().mean()
    assert after < 0.5 * before
    assert list((cache / "checkpoints").glob("rddm-rvae-*.pt"))  # cached for the ablation variants


def test_the_fitted_latent_scale_gives_training_latents_unit_variance(rddm_store, cache, tmp_path):
    """RDDM's Eq. 4, checked in closed form; the scale travels with the weights."""
    from ispsim.methods import create_method
    from ispsim.methods.restoration import Pairs

    method = create_method("rddm", "quick")
    assert method.settings["latent_scale"] == 0  # fit it
    net, pairs = method._base(), Pairs(rddm_store)
    x = pairs.linear[:3, :, :32, :32]
    scale = net.fit_latent_scale(x)
    with torch.no_grad():
        z = net.encode(x)
        raw = net.vae.encode(2 * x - 1).latent_dist.mode()
    assert float(z.std()) == pytest.approx(1.0, rel=1e-5)
    assert scale == pytest.approx(1 / float(raw.std()), rel=1e-6) and scale != pytest.approx(0.18215)
    method.fit(rddm_store, progress=False, save_to=tmp_path / "ckpt")
    other = create_method("rddm", "quick")
    other.load_file("all", tmp_path / "ckpt" / "rddm-quick-all.pt")
    fitted = float(method.models["all"].latent_scale)
    assert float(other.models["all"].latent_scale) == fitted != pytest.approx(0.18215)
    assert '"latent_scale": %r' % fitted in (tmp_path / "ckpt" / "rddm-quick-all.json").read_text()


@pytest.mark.parametrize("bad", ["fit", -1.0, True])
def test_a_bad_latent_scale_is_refused_by_name(bad):
    from ispsim.methods.rddm.method import RDDM

    with pytest.raises(ConfigError, match="latent_scale"):
        RDDM({**RDDM.defaults, "latent_scale": bad}, "quick")


def test_a_stage_one_cache_without_its_card_is_trained_again(rddm_store, cache, capsys):
    from ispsim.methods import create_method

    from ispsim.methods.restoration import Pairs

    method = create_method("rddm", "quick")
    pairs = Pairs(rddm_store)
    path = method._stage_one_path(rddm_store)
    path.parent.mkdir(parents=True)
    torch.save({"garbage": torch.zeros(1)}, path)  # as an interrupted or older writer could leave it
    loss, cached = method.pretrain_rvae(method._base(), pairs, rddm_store, progress=False)
    assert loss is not None and cached is None  # trained
    assert "training it again" in capsys.readouterr().err
    assert path.with_suffix(".json").is_file()


def test_stage_two_freezes_the_decoder_and_checkpoints_round_trip(rddm_store, cache, tmp_path):
    from ispsim.methods import create_method

    method = create_method("rddm", "quick")
    method.fit(rddm_store, progress=False, save_to=tmp_path / "ckpt")
    rvae = torch.load(next((cache / "checkpoints").glob("rddm-rvae-*.pt")), weights_only=True)
    net = method.models["all"]
    for k, v in net.vae.decoder.state_dict().items():
        torch.testing.assert_close(v, rvae[f"decoder.{k}"])
    card = (tmp_path / "ckpt" / "rddm-quick-all.json").read_text()
    assert "from scratch" in card and "bench train rddm" in card
    other = create_method("rddm", "quick")
    other.load_file("all", tmp_path / "ckpt" / "rddm-quick-all.pt")
    params = rddm_store.params("test", 0)
    inputs = {"lq_raw": rddm_store.read_sample("test", 0)["lq_raw"], "bayer": params["bayer"],
              "record": Record.from_dict(params["record"]), "camera": params["camera"], "iso": params["iso"]}
    out = method.reconstruct(inputs, None)
    assert out.shape == (3, 96, 128) and np.isfinite(out).all()
    np.testing.assert_array_equal(out, other.reconstruct(inputs, None))


def test_same_seed_same_weights(rddm_store, tmp_path, monkeypatch):
    from ispsim.methods import create_method

    states = []
    for k in range(2):
        monkeypatch.setenv("ISPSIM_CACHE", str(tmp_path / f"c{k}"))
        m = create_method("unet-raw", "quick")
        m.fit(rddm_store, progress=False)
        states.append(m.models["all"].state_dict())
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)


def test_paper_profile_says_where_stable_diffusion_is_missing(tmp_path):
    from ispsim.methods import create_method

    method = create_method("rddm", "paper")
    method.settings["sd_path"] = str(tmp_path / "sd21")
    with pytest.raises(ConfigError, match="Stable Diffusion 2.1 not found at .*sd21.*cpu profile"):
        method._base()


def test_runner_scores_restoration_in_both_domains_per_bayer_and_iso(rddm_store, cache, tmp_path):
    import pandas as pd

    from ispsim.bench.metrics import peak_signal_noise_ratio
    from ispsim.bench.report import summarise
    from ispsim.bench.runner import Runner
    from ispsim.bench.suite import load_suite
    from ispsim.methods import create_method

    suite = load_suite("quick")
    ds = next(d for d in suite.datasets if d.track == "restoration")
    method = create_method("isp-unet", "quick")
    method.fit(rddm_store, progress=False)
    runner = Runner(suite, tmp_path / "r", progress=False)
    rows = [runner.evaluate_restoration(method, rddm_store, ds, i, "h") for i in rddm_store.done_indices("test")]
    params = rddm_store.params("test", 0)
    record = Record.from_dict(params["record"])
    inputs = {"lq_raw": rddm_store.read_sample("test", 0)["lq_raw"], "bayer": params["bayer"], "record": record,
              "camera": params["camera"], "iso": params["iso"]}
    out = method.reconstruct(inputs, None)
    gt = rddm_store.read_sample("test", 0)["linear"]
    assert rows[0]["psnr"] == pytest.approx(peak_signal_noise_ratio(gt, out), abs=1e-4)
    assert rows[0]["psnr_srgb"] == pytest.approx(
        peak_signal_noise_ratio(Pipeline.finish(gt, record), Pipeline.finish(np.clip(out, 0, None), record)), abs=1e-4)
    assert rows[0]["bayer"] == params["bayer"] and rows[0]["iso"] == pytest.approx(params["iso"])
    summary = summarise(pd.DataFrame(rows), 0)
    labels = set(summary.camera)
    assert {f"Bayer {p['bayer']}" for p in map(lambda i: rddm_store.params("test", i), rddm_store.done_indices("test"))} <= labels
    assert any(label.startswith("ISO ") for label in labels)


@pytest.mark.slow
def test_runner_skips_a_method_whose_extra_is_missing(tmp_path):
    code = f"""
import sys
sys.modules["diffusers"] = None  # as if the 'rddm' extra were not installed
from pathlib import Path
from ispsim.bench.runner import Runner
from ispsim.bench.suite import load_suite
rows = Runner(load_suite("quick"), Path({str(tmp_path / 'r')!r}), data_dir=Path({str(tmp_path / 'd')!r}),
              progress=False).run(["rddm"], ["rddm"])
assert rows == [], rows
"""
    env = {**__import__("os").environ, "ISPSIM_CACHE": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert "rddm skipped: it needs diffusers" in res.stderr and "ispsim[rddm]" in res.stderr


def test_paper_profile_loads_a_local_stable_diffusion_folder(tmp_path):
    """The real loading path, on a miniature folder laid out as diffusers saves SD 2.1."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from ispsim.methods import create_method

    sd = tmp_path / "sd21"
    AutoencoderKL(block_out_channels=(8,), norm_num_groups=4, latent_channels=4).save_pretrained(sd / "vae")
    UNet2DConditionModel(block_out_channels=(8, 16), norm_num_groups=4, layers_per_block=1, cross_attention_dim=8,
                         attention_head_dim=2, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D")).save_pretrained(sd / "unet")
    CLIPTextModel(CLIPTextConfig(vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                 num_attention_heads=2, max_position_embeddings=8, bos_token_id=0, eos_token_id=1,
                                 pad_token_id=1)).save_pretrained(sd / "text_encoder")
    CLIPTokenizer(vocab={"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2}, merges=[], model_max_length=8,
                  pad_token="<|endoftext|>").save_pretrained(sd / "tokenizer")

    method = create_method("rddm", "paper")
    method.settings["sd_path"] = str(sd)
    net = method._net()
    assert isinstance(net.unet, UNet2DConditionModel) and net.prompt.shape == (1, 8, 8)
    assert net.alpha_bar == pytest.approx(0.0047, abs=1e-4)  # t = 999, as OSEDiff
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)  # SD's own weights stay frozen
    with torch.no_grad():
        out = method.run(net, torch.rand(2, 1, 16, 16), ["RGGB", "GBRG"])
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()


def test_rddm_reconstructs_sizes_its_networks_do_not_divide(rddm_store, cache):
    from ispsim.methods import create_method

    method = create_method("rddm", "quick")
    method.fit(rddm_store, progress=False)
    params = rddm_store.params("test", 1)
    lq = rddm_store.read_sample("test", 1)["lq_raw"][:, :90, :118]  # even, but no multiple of 4
    out = method.reconstruct({"lq_raw": lq, "bayer": params["bayer"], "record": None, "camera": params["camera"],
                              "iso": params["iso"]}, None)
    assert out.shape == (3, 90, 118) and np.isfinite(out).all()


def test_bench_train_writes_a_restoration_checkpoint_with_its_card(tmp_path, cache):
    import json

    from ispsim.cli.bench import main
    from ispsim.methods import create_method

    assert main(["train", "unet-raw", "--profile", "quick", "--recipe", "rddm", "--size", "quick",
                 "--out", str(tmp_path / "ckpt"), "--data-dir", str(tmp_path / "data"), "-q"]) == 0
    card = json.loads((tmp_path / "ckpt" / "unet-raw-quick-all.json").read_text())
    assert card["command"] == "bench train unet-raw --profile quick --recipe rddm --size quick"
    assert card["data"]["train_images"] == 8
    method = create_method("unet-raw", "quick")
    method.load_file("all", tmp_path / "ckpt" / "unet-raw-quick-all.pt")  # sha256-checked, weights_only
    assert method.checkpoint().startswith("all:")


def test_a_shipped_checkpoint_of_other_settings_is_not_loaded(rddm_store, cache, tmp_path, capsys):
    import json

    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import sha256_of

    first = create_method("unet-raw", "quick")
    first.fit(rddm_store, progress=False, save_to=tmp_path / "ship")
    shipped = tmp_path / "ship" / "unet-raw-quick-all.pt"
    same = create_method("unet-raw", "quick")
    same.shipped_checkpoint = lambda camera: shipped
    same.fit(rddm_store, progress=False)
    assert same.digests["all"] == sha256_of(shipped)
    edited = create_method("unet-raw", "quick")
    edited.settings["steps"] = 3
    edited.shipped_checkpoint = lambda camera: shipped
    edited.fit(rddm_store, progress=False)
    assert edited.digests["all"] != sha256_of(shipped)
    assert "trained with other settings" in capsys.readouterr().err
    assert json.loads(shipped.with_suffix(".json").read_text())["version"] == 1
    newer = create_method("unet-raw", "quick")
    newer.version = 2  # same settings, a changed network: the shipped weights are not its own
    newer.shipped_checkpoint = lambda camera: shipped
    newer.fit(rddm_store, progress=False)
    assert newer.digests["all"] != sha256_of(shipped)
    assert "older version" in capsys.readouterr().err


def test_cached_weights_are_keyed_by_the_method_version_past_one():
    import hashlib
    import json

    from ispsim.methods import create_method

    m = create_method("unet-raw", "quick")
    assert m.version == 1  # version 1 keys are the settings' alone, as they always were
    assert m._settings_key() == hashlib.sha256(json.dumps(m.settings, sort_keys=True).encode()).hexdigest()[:8]
    before = m._settings_key()
    m.version = 2  # a change to the network: weights cached before it no longer match
    assert m._settings_key() != before


def test_tiled_blends_overlapping_windows_at_even_offsets():
    from ispsim.methods.nn import tiled

    g = torch.Generator().manual_seed(0)
    starts = []

    def pointwise(t):
        starts.extend(zip(t[:, 1, 0, 0].tolist(), t[:, 2, 0, 0].tolist()))
        return torch.cat([3 * t[:, :1] - 1, t[:, :1] ** 2], dim=1)

    for h, w in ((64, 64), (70, 98), (130, 66)):
        rows, cols = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
        x = torch.cat([torch.rand(1, 1, h, w, generator=g, dtype=torch.float64), rows[None, None], cols[None, None]], dim=1)
        starts.clear()
        got = tiled(pointwise, x, 32, 16, batch=5)
        want = pointwise(x)  # a pointwise function: the blend of its tiles is itself
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
        assert all(a % 2 == 0 and b % 2 == 0 for a, b in starts)  # the Bayer phase of every tile
        assert max(a for a, _ in starts) == h - 32 and max(b for _, b in starts) == w - 32
    with pytest.raises(ValueError, match="even"):
        tiled(pointwise, x, 31, 16)
    with pytest.raises(ValueError, match="at least one tile"):
        tiled(pointwise, x[..., :20, :], 32, 16)


def test_rddm_tiles_are_an_inference_setting_that_keeps_the_weights(rddm_store, cache, tmp_path):
    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import sha256_of

    first = create_method("rddm", "quick")
    first.fit(rddm_store, progress=False, save_to=tmp_path / "ship")
    shipped = tmp_path / "ship" / "rddm-quick-all.pt"
    whole = create_method("rddm", "quick")
    whole.settings["tile"] = 0
    assert whole._settings_key() == first._settings_key()
    whole.shipped_checkpoint = lambda camera: shipped
    whole.fit(rddm_store, progress=False)
    assert whole.digests["all"] == sha256_of(shipped)  # loaded, not trained again
    params = rddm_store.params("test", 0)
    inputs = {"lq_raw": rddm_store.read_sample("test", 0)["lq_raw"], "bayer": params["bayer"], "record": None,
              "camera": params["camera"], "iso": params["iso"]}
    a, b = first.reconstruct(inputs, None), whole.reconstruct(inputs, None)
    assert a.shape == b.shape == (3, 96, 128) and np.isfinite(a).all()
    assert not np.array_equal(a, b)  # GroupNorm sees a tile's statistics, not the image's
    first.settings["tile"] = 30
    with pytest.raises(ConfigError, match="tile = 30"):
        first.reconstruct(inputs, None)


@pytest.mark.parametrize("warmup", [0, 1, 7])
def test_the_learning_rate_ramps_over_the_warmup_then_follows_the_cosine(warmup):
    from ispsim.methods.nn import lr_schedule

    steps, lr = 40, 2e-3
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched, seen = lr_schedule(opt, steps, warmup), []
    for _ in range(steps):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [lr * min(1.0, (k + 1) / max(warmup, 1)) * 0.5 * (1 + math.cos(math.pi * k / steps)) for k in range(steps)]
    np.testing.assert_allclose(seen, want, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("bad", [-1, 2.5])
def test_a_bad_warmup_is_refused_by_name(bad):
    from ispsim.methods.rddm.method import RDDM

    with pytest.raises(ConfigError, match="warmup"):
        RDDM({**RDDM.defaults, "warmup": bad}, "quick")


def test_weights_made_before_a_setting_existed_still_load_at_its_legacy_value(rddm_store, cache, tmp_path):
    """Weights made before latent_scale, warmup and encoder_input existed (no scale buffer, a card
    without them): at the settings' legacy values they are still named by the same keys and load
    (the scale filled from the setting); at any other value they are not theirs."""
    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import save_checkpoint

    method = create_method("rddm", "quick")
    legacy = {"latent_scale": 0.18215, "warmup": 0, "encoder_input": "repeat"}
    method.settings.update(legacy)
    method.fit(rddm_store, progress=False)
    old = {k: v for k, v in method.settings.items() if k not in legacy}
    state = {k: v for k, v in method.models["all"].state_dict().items() if k != "latent_scale"}
    path = save_checkpoint(state, tmp_path / "old" / "rddm-quick-all.pt", {"settings": old, "version": method.version})
    key, digest = method._settings_key(), method.settings_digest()
    method.settings, settings = old, method.settings
    assert method._settings_key() == key and method.settings_digest() == digest  # weights and results alike
    method.settings = settings
    assert method.made_with_these_settings(path)
    method.load_file("all", path)
    assert float(method.models["all"].latent_scale) == pytest.approx(0.18215)
    for change in ({"latent_scale": 0.0}, {"warmup": 10}, {"encoder_input": "cfa"}):
        other = create_method("rddm", "quick")
        other.settings.update({**legacy, **change})
        assert not other.made_with_these_settings(path) and other._settings_key() != key


def test_a_trained_card_carries_its_budget_and_learning_curve(rddm_store, cache, tmp_path):
    import json

    from ispsim.methods import create_method

    m = create_method("unet-raw", "quick")
    m.fit(rddm_store, progress=False, save_to=tmp_path)
    card = json.loads((tmp_path / "unet-raw-quick-all.json").read_text())
    steps = m.settings["steps"]
    assert [s for s, _ in card["curve"]][-1] == steps  # scored after the last step at least
    assert all(np.isfinite(v) and v > 0 for _, v in card["curve"])
    assert card["curve_metric"] == "validation PSNR, linear (dB)"
    assert card["budget"]["train_seconds"] > 0 and card["budget"]["device"] == "cpu"


def test_a_budget_counts_a_cached_stage_one_and_says_so(rddm_store, cache, tmp_path):
    """RDDM's stage one comes from a cache when another run trained it: the budget adds the time
    that run recorded, or says the sum is stage two alone."""
    import json

    from ispsim.methods import create_method
    from ispsim.methods.checkpoints import read_card, write_card

    first = create_method("rddm", "quick")
    first.fit(rddm_store, progress=False, save_to=tmp_path / "a")  # trains stage one and caches it
    card_a = json.loads((tmp_path / "a" / "rddm-quick-all.json").read_text())
    assert "note" not in card_a["budget"] and "cached_stage" not in card_a
    stage_one = first._stage_one_path(rddm_store).with_suffix(".json")
    recorded = read_card(stage_one)["train_seconds"]
    assert recorded > 0

    write_card(stage_one.with_suffix(".pt"), {**read_card(stage_one), "train_seconds": 600.0})
    second = create_method("rddm", "quick")
    second.fit(rddm_store, progress=False, save_to=tmp_path / "b")
    budget = json.loads((tmp_path / "b" / "rddm-quick-all.json").read_text())["budget"]
    assert budget["train_seconds"] > 600.0 and "its 10.0 min included" in budget["note"]

    card = read_card(stage_one)
    del card["train_seconds"]  # a cache written before stage one's time was recorded
    write_card(stage_one.with_suffix(".pt"), card)
    third = create_method("rddm", "quick")
    third.fit(rddm_store, progress=False, save_to=tmp_path / "c")
    budget = json.loads((tmp_path / "c" / "rddm-quick-all.json").read_text())["budget"]
    assert budget["train_seconds"] < 600.0 and "its time not recorded: stage two alone" in budget["note"]
    for d in "bc":  # the weights do not depend on where stage one came from
        assert (tmp_path / d / "rddm-quick-all.pt").read_bytes() == (tmp_path / "a" / "rddm-quick-all.pt").read_bytes()


def test_classic_isp_is_malvar_then_nlm_and_is_isp_unets_stage_one(rddm_store):
    """Against colour-demosaicing's Malvar-He-Cutler (noise-free: NLM leaves the image), and the
    isp-unet's stage one is this image through the camera's PTP."""
    import colour_demosaicing as cd

    from ispsim.methods import create_method
    from ispsim.methods.restoration import Pairs, classic_isp

    method = create_method("classic-isp", "cpu")
    pairs = Pairs(rddm_store, "test")
    lq, bayer, record, camera = pairs.lq[0].numpy(), pairs.bayer[0], pairs.records[0], pairs.cameras[0]
    clean = pairs.linear[0].numpy()
    mosaic = np.asarray(cfa.mosaic(clean, bayer), np.float32)  # noise-free, in the sample's Bayer order
    out = method.reconstruct({"lq_raw": mosaic, "bayer": bayer, "record": record, "camera": camera, "iso": 0.0}, None)
    ref = np.moveaxis(cd.demosaicing_CFA_Bayer_Malvar2004(mosaic[0].astype(np.float64), bayer), -1, 0).clip(0, None)
    inner = (slice(None), slice(2, -2), slice(2, -2))
    np.testing.assert_allclose(out[inner], ref[inner], atol=2e-3)
    assert out.shape == clean.shape and out.dtype == np.float32

    noisy = method.reconstruct({"lq_raw": lq, "bayer": bayer, "record": record, "camera": camera,
                                "iso": pairs.iso[0]}, None)
    np.testing.assert_array_equal(classic_isp(lq, bayer, record, camera, pairs.iso[0]),
                                  Pipeline.finish(noisy, record).astype(np.float32))


def test_training_says_it_runs_on_the_cpu_where_a_gpu_is_present(rddm_store, cache, tmp_path, monkeypatch, capsys):
    import json

    from ispsim.methods import create_method

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    create_method("unet-raw", "quick").fit(rddm_store, progress=False, save_to=tmp_path)
    assert "training runs on the CPU" in capsys.readouterr().err
    assert json.loads((tmp_path / "unet-raw-quick-all.json").read_text())["budget"]["device"] == "cpu"
