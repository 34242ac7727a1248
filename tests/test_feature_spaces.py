"""Feature spaces beside the featurenet (evaluate/spaces.py) and their weights as verified inputs
(evaluate/pretrained.py), with Inception-V3 and DINOv2 weights made here (made_weights.py): the real ones cannot
be fetched where the tests run."""

from __future__ import annotations

import json
import socket
import sys
import types
from pathlib import Path

import made_weights
import numpy as np
import pytest
import reference_vit
import torch
from PIL import Image
from sklearn.datasets import load_digits

from genbench import artifacts, cli, paths
from genbench.config import DownloadParams, load_params
from genbench.data import download
from genbench.errors import DataError
from genbench.evaluate import comparison, distances, fetch_pretrained, pretrained, spaces, torch_fidelity_package
from genbench.report import ranking

FAST = DownloadParams(timeout_s=2.0, retries=0, backoff_s=0.01)
TINY = Path(__file__).parent / "params" / "tiny.yaml"

# torch-fidelity's FID takes scipy's sqrtm of the product of two covariances, which are rank-deficient at
# these few images; how closely that matches ours depends on the CPU's LAPACK kernels: under 1e-6 apart on
# an Intel Xeon, 1.1e-6 to 6e-6 on an AMD EPYC with AVX-512.
FID_AGREEMENT = 1e-5


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """Each space's weights, made here; DINOv2's with 2 of its 12 layers, for speed."""
    folder = tmp_path_factory.mktemp("made")
    return {"inception": made_weights.inception(folder), "dinov2": made_weights.dinov2(folder, layers=2)}


@pytest.fixture
def registered(made, tmp_path, monkeypatch):
    """The made weights as the spaces' registry entries, from a folder of their own; the inception ones."""
    registry = made_weights.register(made, tmp_path / "registry.json")
    monkeypatch.setenv(pretrained.REGISTRY_VARIABLE, str(registry))
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    return made["inception"]


def digit_sets(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of grey 8 x 8 images in [0, 1]: real digits, and the next digits with noise added."""
    images = (load_digits().images / 16).astype(np.float32)[:, None]
    rng = np.random.default_rng(0)
    fake = np.clip(images[n : 2 * n] + rng.normal(0, 0.2, images[:n].shape), 0, 1).astype(np.float32)
    return images[:n], fake


@pytest.fixture
def torch_fidelity(monkeypatch):
    """torch-fidelity's whole package. Its __init__ imports torchvision for dataset loaders these tests do not use
    (they hand it tensors), and the registries' torchvision needs a CUDA build of torch: those imports are stubbed."""
    torch_fidelity_package.importable()
    import torchmetrics.image.fid
    import torchmetrics.image.kid  # noqa: F401  (imported before the stub: they ask whether torchvision is there)

    for name in [m for m in sys.modules if m == "torch_fidelity" or m.startswith("torch_fidelity.")]:
        monkeypatch.delitem(sys.modules, name)
    stub = {name: types.ModuleType(name) for name in ("torchvision", "torchvision.datasets", "torchvision.transforms")}
    stub["torchvision.transforms.functional"] = types.ModuleType("torchvision.transforms.functional")
    for name in ("CIFAR10", "CIFAR100", "STL10"):
        setattr(stub["torchvision.datasets"], name, object)
    stub["torchvision"].datasets, stub["torchvision"].transforms = (
        stub["torchvision.datasets"],
        stub["torchvision.transforms"],
    )
    stub["torchvision.transforms"].functional = stub["torchvision.transforms.functional"]
    for name, module in stub.items():
        monkeypatch.setitem(sys.modules, name, module)
    import torch_fidelity

    return torch_fidelity


class PngImages(torch.utils.data.Dataset):
    """Images as torch-fidelity reads PNG files: PIL's RGB conversion, as 3 x H x W uint8 tensors."""

    def __init__(self, images: np.ndarray, folder):
        self.paths = []
        for i, image in enumerate(images):
            # torchvision's save_image: x * 255 + 0.5, clamped, truncated.
            path = folder / f"{i}.png"
            Image.fromarray(np.clip(image[0] * 255 + 0.5, 0, 255).astype(np.uint8), "L").save(path)
            self.paths.append(path)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.array(Image.open(self.paths[i]).convert("RGB"))).permute(2, 0, 1).contiguous()


def torch_fidelitys_own(torch_fidelity, fake, real, weights: Path, **options) -> dict:
    """torch-fidelity's own FID and Inception Score (one split, as genbench's) of two image sets, on the CPU."""
    return torch_fidelity.calculate_metrics(
        input1=fake,
        input2=real,
        cuda=False,
        fid=True,
        isc=True,
        feature_extractor="inception-v3-compat",
        feature_extractor_weights_path=str(weights),
        isc_splits=1,
        save_cpu_ram=True,
        cache=False,
        verbose=False,
        **options,
    )


def test_fid_kid_and_inception_score_equal_torch_fidelitys_own_on_the_same_png_images(
    registered, torch_fidelity, tmp_path
):
    real, fake = digit_sets()
    params = load_params(TINY)
    inception = spaces.Inception(pretrained.verified(registered.parent, "inception"), torch.device("cpu"))
    real_in, fake_in = inception.embed(real), inception.embed(fake)
    ours = comparison.in_space(params, real_in, fake_in, seed=0, paired=False, labels=None)

    (tmp_path / "real").mkdir(), (tmp_path / "fake").mkdir()
    theirs = torch_fidelitys_own(
        torch_fidelity,
        PngImages(fake, tmp_path / "fake"),
        PngImages(real, tmp_path / "real"),
        registered,
        kid=True,
        kid_subsets=1,
        kid_subset_size=len(real),  # the whole sets: one subset of all images is the unbiased MMD on them
    )
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=FID_AGREEMENT)
    assert ours["fid"] > 1  # a difference the comparison can see
    # KID: torch-fidelity sums its kernel in the features' float32 (5e-5 apart from float64 here); on the same
    # features in float64 its estimator and ours agree to 1e-6.
    whole_sets = distances.mmd_numpy(real_in.features.numpy(), fake_in.features.numpy())
    assert whole_sets == pytest.approx(theirs["kernel_inception_distance_mean"], rel=1e-4)
    in_float64 = torch_fidelity.metric_kid.kid_features_to_metric(
        fake_in.features, real_in.features, kid_subsets=1, kid_subset_size=len(real), verbose=False
    )
    assert whole_sets == pytest.approx(in_float64["kernel_inception_distance_mean"], rel=1e-6)
    assert ours["inception_score"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6)
    assert ours["inception_score"] > 1.01  # logits that differ between images


def test_grey_images_enter_as_the_rgb_of_their_saved_png(tmp_path):
    real, _ = digit_sets(20)
    saved = PngImages(real, tmp_path)
    assert np.array_equal(spaces.to_rgb8(real), np.stack([saved[i].numpy() for i in range(len(saved))]))


def png_rgb(images: np.ndarray, folder: Path) -> list[Image.Image]:
    """The images as saved PNG files read back by PIL as RGB, as dgm-eval reads them."""
    saved = PngImages(images, folder)
    return [Image.open(path).convert("RGB") for path in saved.paths]


def dgm_eval_input(images: list[Image.Image]) -> torch.Tensor:
    """dgm-eval's DINOv2 input: torchvision's Resize((224, 224), BICUBIC) on a PIL image (PIL's resize), its
    ToTensor (/ 255) and Normalize with ImageNet's mean and deviation."""
    resized = np.stack([np.asarray(image.resize((224, 224), Image.BICUBIC), dtype=np.float32) for image in images])
    scaled = torch.from_numpy(resized / 255).permute(0, 3, 1, 2)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    return (scaled - mean[:, None, None]) / std[:, None, None]


def test_dinov2_input_is_dgm_evals_resize_of_the_saved_png(tmp_path):
    real, _ = digit_sets(20)
    expected = dgm_eval_input(png_rgb(real, tmp_path)).numpy()
    assert np.array_equal(spaces.DinoV2.prepared(real), expected)


def test_dinov2_features_are_the_official_networks_and_fid_and_kid_torch_fidelitys_formulas_on_them(
    registered, made, torch_fidelity, tmp_path
):
    real, fake = digit_sets()
    dinov2 = spaces.DinoV2(pretrained.verified(made["dinov2"].parent, "dinov2"), torch.device("cpu"))
    real_in, fake_in = dinov2.embed(real), dinov2.embed(fake)
    assert real_in.features.shape == (len(real), 384) and real_in.logits is None

    # The official architecture written out in float64 on the checkpoint's own tensors, from the PNG files.
    state = torch.load(made["dinov2"], weights_only=True)
    (tmp_path / "real").mkdir(), (tmp_path / "fake").mkdir()
    with torch.no_grad():
        official = {
            name: reference_vit.class_token(state, dgm_eval_input(png_rgb(images, tmp_path / name)))
            for name, images in (("real", real), ("fake", fake))
        }
    assert torch.allclose(real_in.features, official["real"], rtol=0, atol=1e-4 * float(official["real"].std()))
    assert torch.allclose(fake_in.features, official["fake"], rtol=0, atol=1e-4 * float(official["fake"].std()))

    params = load_params(TINY)
    ours = comparison.in_space(params, real_in, fake_in, seed=0, paired=False, labels=None)
    assert "inception_score" not in ours  # DINOv2 has no classes
    statistics = [torch_fidelity.metric_fid.fid_features_to_statistics(f) for f in (fake_in.features, real_in.features)]
    theirs = torch_fidelity.metric_fid.fid_statistics_to_metric(*statistics, verbose=False)
    assert ours["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=FID_AGREEMENT)
    assert ours["fid"] > 0.05  # a difference the comparison can see (random weights: 0.14)
    kid = torch_fidelity.metric_kid.kid_features_to_metric(
        fake_in.features, real_in.features, kid_subsets=1, kid_subset_size=len(real), verbose=False
    )
    assert distances.mmd_numpy(real_in.features.numpy(), fake_in.features.numpy()) == pytest.approx(
        kid["kernel_inception_distance_mean"], rel=1e-6
    )
    statistics = [torch_fidelity.metric_fid.fid_features_to_statistics(official[n].float()) for n in ("fake", "real")]
    from_official = torch_fidelity.metric_fid.fid_statistics_to_metric(*statistics, verbose=False)
    assert ours["fid"] == pytest.approx(from_official["frechet_inception_distance"], rel=1e-4)


def test_a_dinov2_checkpoint_of_another_variant_is_refused_in_one_line(made, tmp_path):
    state = torch.load(made["dinov2"], weights_only=True)
    state["register_tokens"] = torch.zeros(1, 4, 384)  # the "_reg4" checkpoints
    torch.save(state, tmp_path / "reg4.pth")
    with pytest.raises(DataError) as error:
        spaces.DinoV2(tmp_path / "reg4.pth", torch.device("cpu"))
    message = str(error.value)
    assert "\n" not in message and "not the state dict of a DINOv2 ViT backbone" in message
    assert "register_tokens" in message


def test_weights_with_another_sha256_are_refused_in_one_line(registered, tmp_path):
    folder = tmp_path / "pretrained"
    folder.mkdir()
    data = bytearray(registered.read_bytes())
    data[-1] ^= 1
    (folder / registered.name).write_bytes(bytes(data))
    with pytest.raises(DataError) as error:
        pretrained.verified(folder, "inception")
    message = str(error.value)
    assert "\n" not in message and registered.name in message
    assert artifacts.sha256_of(registered) in message and "genbench pretrained" in message


def test_missing_weights_name_the_file_its_sha256_and_where_it_goes(registered, tmp_path):
    with pytest.raises(DataError) as error:
        pretrained.verified(tmp_path, "inception")
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / registered.name) in message
    assert artifacts.sha256_of(registered) in message


def test_offline_the_stage_fails_at_once_naming_the_file_its_sha256_and_the_ways_out(monkeypatch, tmp_path):
    monkeypatch.delenv(pretrained.REGISTRY_VARIABLE, raising=False)
    monkeypatch.delenv(download.MIRROR_VARIABLE, raising=False)
    lookups = []

    def offline(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    with pytest.raises(DataError) as error:
        fetch_pretrained.run(
            ["featurenet", "inception"], tmp_path / "pretrained", DownloadParams(timeout_s=60, retries=4)
        )
    message = str(error.value)
    official = pretrained.REGISTRY["inception"]
    assert "\n" not in message and official.name in message and official.sha256 in message
    assert f"into {tmp_path / 'pretrained'}/ by hand" in message and download.MIRROR_VARIABLE in message
    assert lookups == ["github.com"]  # the host that did not resolve is not asked again
    assert list((tmp_path / "pretrained").iterdir()) == []


def test_the_stage_copies_from_a_mirror_folder_and_keeps_a_verified_copy(registered, monkeypatch, tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "pretrained").mkdir(parents=True)
    (mirror / "pretrained" / registered.name).write_bytes(registered.read_bytes())
    monkeypatch.setenv(download.MIRROR_VARIABLE, str(mirror))
    folder = tmp_path / "pretrained"
    fetch_pretrained.run(["featurenet", "inception"], folder, FAST)
    assert artifacts.sha256_of(folder / registered.name) == artifacts.sha256_of(registered)
    (mirror / "pretrained" / registered.name).unlink()  # a second run fetches nothing: the copy is verified
    fetch_pretrained.run(["featurenet", "inception"], folder, FAST)
    manifest = json.loads((folder / fetch_pretrained.MANIFEST).read_text())
    assert manifest == {
        "files": [
            {"name": registered.name, "sha256": artifacts.sha256_of(registered), "size": registered.stat().st_size}
        ]
    }
    fetch_pretrained.run(["featurenet"], tmp_path / "none", FAST)
    assert json.loads((tmp_path / "none" / fetch_pretrained.MANIFEST).read_text()) == {"files": []}


def test_a_pickle_that_runs_code_is_refused_before_torch_fidelity_loads_it(tmp_path):
    import pickle

    class Runs:
        def __reduce__(self):
            return (print, ("ran",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump(Runs(), f, protocol=2)
    with pytest.raises(DataError, match="not a state dict of tensors"):
        spaces.Inception(path, torch.device("cpu"))


def with_spaces(tmp_path, spaces_line: str):
    """tiny.yaml with `evaluate.feature_spaces` set, in tmp_path."""
    text = TINY.read_text().replace("  feature_spaces: [featurenet]", f"  feature_spaces: {spaces_line}")
    (tmp_path / "params.yaml").write_text(text)
    return tmp_path / "params.yaml"


def test_the_command_line_says_one_line_and_exits_1_for_a_bad_registry(tmp_path, monkeypatch, capsys):
    (tmp_path / "registry.json").write_text(json.dumps({"inception": {"name": "x"}}))
    monkeypatch.setenv(pretrained.REGISTRY_VARIABLE, str(tmp_path / "registry.json"))
    monkeypatch.chdir(tmp_path)
    params = with_spaces(tmp_path, "[featurenet, inception]")
    assert cli.main(["--params", str(params), "pretrained"]) == 1  # a bad input file, as every DataError
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GENBENCH_PRETRAINED_REGISTRY" in err and "Traceback" not in err


def test_kendall_tau_is_one_for_the_same_ranking_and_minus_one_for_the_reverse():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(80, 4))
    # Three models ever further from the real images: their FIDs rank them the same way in any space.
    space = {f"m{shift}": {0: {"real": real, "generated": rng.normal(shift, 1, size=(80, 4))}} for shift in (0.5, 2, 4)}
    same = ranking.agreement(space, space, [0], 50, seed=0)
    assert same["tau"] == 1 and same["tau_interval"] == [1, 1]
    flipped = {
        m: {0: {"real": real, "generated": rng.normal(shift, 1, size=(80, 4))}} for m, shift in zip(space, (4, 2, 0.5))
    }
    assert ranking.agreement(space, flipped, [0], 50, seed=0)["tau"] == -1


def test_moved_marks_name_the_column_and_both_spaces_marks():
    a = [{"model": "vae", "marks": {"fid": None}}, {"model": "ddpm", "marks": {"fid": "best"}}]
    b = [{"model": "vae", "marks": {"fid": "tied"}}, {"model": "ddpm", "marks": {"fid": "tied"}}]
    assert ranking.moved_marks(a, b, ["fid"]) == [
        {"key": "fid", "a": {"ddpm": "best"}, "b": {"vae": "tied", "ddpm": "tied"}}
    ]
    assert ranking.moved_marks(a, a, ["fid"]) == []


@pytest.mark.parametrize(
    "spaces_line", ["[inception]", "[featurenet, dinov2, dinov2]", "[featurenet, clip]", "[dinov2, featurenet]"]
)
def test_feature_spaces_must_start_with_the_featurenet_and_name_known_spaces_once(tmp_path, spaces_line):
    from genbench.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluate.feature_spaces"):
        load_params(with_spaces(tmp_path, spaces_line))


def test_the_pipeline_scores_every_model_in_inception_and_dinov2_space_as_the_references_do_and_the_page_shows_it(
    finished_workspace, made, torch_fidelity, tmp_path
):
    from genbench.data import splits
    from genbench.evaluate import protocol

    ws = finished_workspace
    ws.extra_env[pretrained.REGISTRY_VARIABLE] = str(made_weights.register(made, tmp_path / "registry.json"))
    ws.path("data/pretrained").mkdir(exist_ok=True)
    weights = made["inception"]
    ws.path(f"data/pretrained/{weights.name}").write_bytes(weights.read_bytes())  # put there by hand
    mirror = tmp_path / "mirror" / "pretrained"  # and DINOv2's from a mirror
    mirror.mkdir(parents=True)
    (mirror / made["dinov2"].name).write_bytes(made["dinov2"].read_bytes())
    ws.extra_env[download.MIRROR_VARIABLE] = str(mirror.parent)
    ws.edit("params.yaml", "  feature_spaces: [featurenet]", "  feature_spaces: [featurenet, inception, dinov2]")
    ran = ws.dvc_repro()
    params = load_params(ws.path("params.yaml"))
    generative = params.models.generative
    # Only what reads the feature spaces reruns: nothing is trained or sampled again.
    assert sorted(ran) == sorted(
        ["pretrained", "evaluate_references@digits", "report"]
        + [f"evaluate_generative@digits-{m}-0" for m in generative]
    )
    for made_file in made.values():  # the one put there by hand kept, the other from the mirror
        assert artifacts.sha256_of(ws.path(f"data/pretrained/{made_file.name}")) == artifacts.sha256_of(made_file)

    arrays = splits.load(ws.path(str(paths.processed_data("digits"))), ("train", "val", "test"), n_classes=10)
    x_compared, _ = protocol.test_subset(params, arrays)
    n = len(x_compared)
    (tmp_path / "real").mkdir()
    real = PngImages(x_compared, tmp_path / "real")
    state = torch.load(made["dinov2"], weights_only=True)
    with torch.no_grad():
        real_official = reference_vit.class_token(state, dgm_eval_input(png_rgb(x_compared, tmp_path / "real")))
    for model in generative:
        metrics = json.loads(ws.path(str(paths.metrics_file("digits", model, 0))).read_text())
        in_space = metrics["spaces"]["inception"]
        samples = artifacts.load_npz(ws.path(str(paths.samples_dir("digits", model, 0) / paths.SAMPLES)), ("x",))["x"][
            :n
        ]
        (tmp_path / model).mkdir()
        theirs = torch_fidelitys_own(torch_fidelity, PngImages(samples, tmp_path / model), real, weights)
        assert in_space["n_images"] == n
        assert in_space["fid"] == pytest.approx(theirs["frechet_inception_distance"], rel=FID_AGREEMENT), model
        assert in_space["inception_score"] == pytest.approx(theirs["inception_score_mean"], rel=1e-6), model
        assert in_space["fid_interval"][0] <= in_space["fid"] <= in_space["fid_interval"][1]
        assert metrics["classifier_score_interval"][0] <= metrics["classifier_score"] <= 10
        with torch.no_grad():
            fake_official = reference_vit.class_token(state, dgm_eval_input(png_rgb(samples, tmp_path / model)))
        statistics = [
            torch_fidelity.metric_fid.fid_features_to_statistics(f.float()) for f in (fake_official, real_official)
        ]
        from_official = torch_fidelity.metric_fid.fid_statistics_to_metric(*statistics, verbose=False)
        in_dinov2 = metrics["spaces"]["dinov2"]
        assert in_dinov2["fid"] == pytest.approx(from_official["frechet_inception_distance"], rel=1e-4), model
        assert in_dinov2["n_images"] == n and "inception_score" not in in_dinov2
    references = json.loads(ws.path(str(paths.references_file("digits"))).read_text())["spaces"]
    for space in ("inception", "dinov2"):
        assert references[space]["real_heldout_vs_test"]["fid"] < references[space]["noise_vs_test"]["fid"]

    page = ws.path("reports/index.html").read_text()
    for space in ("inception", "dinov2"):
        assert f'data-kind="generative-{space}"' in page and f'data-agreement="{space}"' in page
    assert "Kendall's τ" in page and "TensorFlow 1's bilinear resize" in page and "PIL's bicubic filter" in page
    dinov2_table = page[page.index('data-kind="generative-dinov2"') :].split("</table>")[0]
    assert "FID" in dinov2_table and "Inception Score" not in dinov2_table
    csv_text = ws.path("reports/results.csv").read_text()
    for space in ("inception", "dinov2"):
        assert all(f"digits,{m},0,spaces.{space}.fid," in csv_text for m in generative)


def test_the_class_score_is_the_number_of_classes_for_confident_even_predictions_and_1_for_one_class():
    confident = np.eye(10)[np.arange(200) % 10] * 50  # each image one class for sure, the classes even
    score, interval = comparison.class_score(confident, resamples=50, seed=0)
    assert score == pytest.approx(10, rel=1e-6) and interval[0] <= 10 + 1e-6 and interval[1] >= 9.5
    assert comparison.class_score(np.tile(confident[:1], (200, 1)), resamples=50, seed=0)[0] == pytest.approx(1)
    unsure = np.zeros((200, 10))  # every image every class alike: no information
    assert comparison.class_score(unsure, resamples=50, seed=0)[0] == pytest.approx(1)


def test_every_space_beside_the_featurenet_has_a_network_and_registered_weights():
    from genbench import pipeline

    assert set(pipeline.FEATURE_SPACES[1:]) == set(spaces.NETWORKS) == set(pretrained.REGISTRY)
    assert pipeline.FEATURE_SPACES[0] == pipeline.FEATURE_SPACE
