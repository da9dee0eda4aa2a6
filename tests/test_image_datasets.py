"""Image datasets: ground-truth image SCMs (pendulum, faces, morpho-glyphs), the
Morpho-MNIST reader and folders of labelled images."""

from __future__ import annotations

import doctest
import importlib
import itertools
import pkgutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from causal import images as D
from causal.images import (
    FACE_ATTRIBUTES, FACE_CPT, IMAGE_NODE, ImageData, ImageDataError, load, load_image_folder, load_morpho_mnist,
    pixel_error, save_image_folder, save_png,
)

REPO = Path(__file__).resolve().parents[1]
CHANNELS = {"pendulum": 3, "faces": 3, "morpho-glyphs": 1}


@pytest.fixture(scope="module")
def scms():
    return {name: D.info(name).build() for name in D.names()}


def test_module_doctests():
    attempted = 0
    for mod in pkgutil.iter_modules(D.__path__):
        if mod.name == "__main__":
            continue
        result = doctest.testmod(importlib.import_module(f"{D.__name__}.{mod.name}"))
        assert result.failed == 0, mod.name
        attempted += result.attempted
    assert attempted > 0


def test_numpy_only_no_torch():
    import subprocess
    import sys

    code = "import sys, causal.images; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, timeout=60).returncode == 0


def test_names_info_and_unknown_name():
    assert D.names() == ["pendulum", "faces", "morpho-glyphs"]
    for name in D.names():
        meta = D.info(name)
        assert meta.description and set(meta.intervene_on) <= set(meta.graph.nodes)
    with pytest.raises(ValueError, match="'mnist'.*pendulum, faces, morpho-glyphs"):
        D.info("mnist")


@pytest.mark.parametrize("name,size", [(n, s) for n in CHANNELS for s in (28, 32, 64)])
def test_shapes_dtypes_ranges_and_graph(name, size):
    ds = load(name, n=12, seed=0, size=size)
    d = ds.data
    assert isinstance(d, ImageData) and d.images.dtype == np.uint8
    assert d.images.shape == (12, size, size, CHANNELS[name])
    assert d.images.max() > d.images.min()  # something is drawn
    g = ds.graph
    assert g.kind(IMAGE_NODE) == "image" and d.image_node == IMAGE_NODE
    labels = [n for n in g.nodes if n != IMAGE_NODE]
    assert list(d.labels.columns) == labels and set(g.parents(IMAGE_NODE)) == set(labels)
    assert d.style is not None and d.style.shape == (12, len(ds.scm.style_names))
    if name == "faces":
        assert all(g.kind(n) == "binary" for n in labels)
        assert set(np.unique(d.labels.to_numpy())) <= {0, 1} and d.labels.dtypes.map(pd.api.types.is_integer_dtype).all()
    if name == "pendulum":
        assert d.labels["pendulum_angle"].between(-36, 38.7).all() and d.labels["light_angle"].between(54, 132.3).all()
    if name == "morpho-glyphs":
        assert (d.labels["thickness"] > 0.5).all() and d.labels["intensity"].between(64, 255).all()
        assert g.parents("intensity") == ("thickness",)
    if name == "pendulum":
        assert d.images[:, :, :, 0].mean() > 200  # white background, as CausalVAE's


def test_faces_graph_is_causalgans():
    g = D.info("faces").graph
    expected = {("Young", c) for c in ("Eyeglasses", "Bald", "Mustache", "Smiling", "Lipstick", "MouthOpen", "NarrowEyes")}
    expected |= {("Male", c) for c in ("Bald", "Mustache", "Smiling", "Lipstick", "NarrowEyes")}
    expected |= {("Smiling", "MouthOpen"), ("Smiling", "NarrowEyes")}
    expected |= {(a, IMAGE_NODE) for a in FACE_ATTRIBUTES}
    assert set(g.edges) == expected


@pytest.mark.parametrize("name", list(CHANNELS))
def test_same_seed_same_images_other_seed_other_images(name, scms):
    a, b, c = (scms[name].sample(20, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.images, b.images) and a.labels.equals(b.labels)
    assert not np.array_equal(a.images, c.images)


@pytest.mark.parametrize("name,node,value", [
    ("pendulum", "light_angle", 100.0), ("pendulum", "shadow_length", 5.0),
    ("faces", "Smiling", 1), ("faces", "Male", 0),
    ("morpho-glyphs", "thickness", 3.0),
])
def test_do_clamps_the_node_and_changes_only_its_descendants(name, node, value, scms):
    scm = scms[name]
    obs = scm.sample(300, seed=5)
    intv = scm.sample(300, do={node: value}, seed=5)
    assert (intv.labels[node] == value).all()
    desc = set(scm.label_graph.descendants(node))
    for col in obs.labels.columns:
        if col != node and col not in desc:
            assert obs.labels[col].equals(intv.labels[col]), col
    assert any(not obs.labels[c].equals(intv.labels[c]) for c in desc) or not desc
    assert np.array_equal(obs.style, intv.style)  # style is exogenous: common random numbers


def test_pendulum_shadow_intervention_redraws_only_the_ground(scms):
    scm = scms["pendulum"]
    obs = scm.sample(50, seed=1, size=32)
    intv = scm.sample(50, do={"shadow_length": 8.0}, seed=1, size=32)
    changed_rows = np.flatnonzero(np.abs(obs.images.astype(int) - intv.images).max(axis=(0, 2, 3)))
    # the ground line y = -0.5 ± 0.45 lies in the bottom 1.45/22 of the window: rows 29..31 at 32 px
    assert len(changed_rows) and changed_rows.min() >= 29


@pytest.mark.parametrize("name", list(CHANNELS))
def test_counterfactual_with_empty_do_is_the_identity(name, scms):
    d = scms[name].sample(40, seed=2)
    d = d.with_labels(d.labels.set_axis(pd.Index([f"r{i}" for i in range(40)]), axis=0))
    for do in (None, {}):
        cf = scms[name].counterfactual(d, do)
        assert np.array_equal(cf.images, d.images) and cf.labels.equals(d.labels)
        assert np.array_equal(cf.style, d.style)


@pytest.mark.parametrize("name,node,value", [
    ("pendulum", "pendulum_angle", 20.0), ("pendulum", "light_angle", 70.0),
    ("morpho-glyphs", "thickness", 1.2),
])
def test_counterfactual_equals_a_fresh_sample_with_the_same_noise(name, node, value, scms):
    """Continuous labels have invertible mechanisms: the counterfactual of each row is the
    interventional sample drawn with the same seed (same exogenous noise, same style)."""
    scm = scms[name]
    size = 32
    obs = scm.sample(200, seed=7, size=size)
    obs = obs.with_labels(obs.labels.set_axis(obs.labels.index + 1000, axis=0))
    cf = scm.counterfactual(obs, do={node: value})
    fresh = scm.sample(200, do={node: value}, seed=7, size=size)
    assert cf.labels.index.equals(obs.labels.index)
    np.testing.assert_allclose(cf.labels.to_numpy(), fresh.labels.to_numpy(), rtol=0, atol=1e-8)
    diff = np.abs(cf.images.astype(int) - fresh.images)
    assert diff.max() <= 1 and pixel_error(cf.images, fresh.images) < 1e-4  # float rounding at most
    assert pixel_error(cf, obs) > 0.005  # and the images did change


def test_faces_counterfactual_keeps_unaffected_rows_and_style(scms):
    scm = scms["faces"]
    d = scm.sample(100, seed=3)
    cf = scm.counterfactual(d, do={"Eyeglasses": 1})
    had = d.labels["Eyeglasses"].to_numpy() == 1
    assert (cf.labels["Eyeglasses"] == 1).all() and had.any() and not had.all()
    assert np.array_equal(cf.images[had], d.images[had])
    assert all(not np.array_equal(cf.images[i], d.images[i]) for i in np.flatnonzero(~had))
    assert cf.labels.drop(columns="Eyeglasses").equals(d.labels.drop(columns="Eyeglasses"))  # no descendants


def _exact_joint() -> tuple[list[tuple[int, ...]], np.ndarray]:
    """All 2^9 attribute vectors and their probabilities under FACE_CPT."""
    rows, probs = [], []
    for values in itertools.product((0, 1), repeat=len(FACE_ATTRIBUTES)):
        v = dict(zip(FACE_ATTRIBUTES, values))
        p = 1.0
        for node, (parents, table) in FACE_CPT.items():
            q = float(table[tuple(v[x] for x in parents)]) if parents else float(table)
            p *= q if v[node] else 1 - q
        rows.append(values)
        probs.append(p)
    return rows, np.array(probs)


def test_faces_exact_numbers_in_the_docstring():
    rows, p = _exact_joint()
    assert abs(p.sum() - 1) < 1e-12
    arr = np.array(rows)
    mu, male = FACE_ATTRIBUTES.index("Mustache"), FACE_ATTRIBUTES.index("Male")
    p_male_given_mu = p[(arr[:, mu] == 1) & (arr[:, male] == 1)].sum() / p[arr[:, mu] == 1].sum()
    assert f"P(Male | Mustache=1) = {p_male_given_mu:.3f}" in D.faces.image_scm.__doc__


def test_faces_conditional_probabilities_as_documented(scms):
    """Every CPT cell, estimated from 200,000 label draws, within 4 standard errors + 0.002."""
    lab = scms["faces"].scm.sample(200_000, seed=11)
    for node, (parents, table) in FACE_CPT.items():
        for cell in itertools.product((0, 1), repeat=len(parents)):
            mask = np.ones(len(lab), bool)
            for p, v in zip(parents, cell):
                mask &= lab[p].to_numpy() == v
            if mask.sum() < 500:
                continue
            est = lab[node].to_numpy()[mask].mean()
            q = float(table[cell]) if parents else float(table)
            se = np.sqrt(q * (1 - q) / mask.sum())
            assert abs(est - q) < 4 * se + 0.002, (node, cell, est, q)


def test_faces_conditioning_on_mustache_vs_intervening(scms):
    scm = scms["faces"]
    obs = scm.scm.sample(20_000, seed=0)
    mu = obs["Mustache"] == 1
    assert mu.sum() > 800 and obs.loc[mu, "Male"].mean() > 0.95  # exact: 0.981
    assert obs.loc[obs["Male"] == 0, "Mustache"].mean() < 0.01
    assert obs.loc[obs["Male"] == 1, "Lipstick"].mean() < 0.02 < 0.5 < obs.loc[obs["Male"] == 0, "Lipstick"].mean()
    intv = scm.scm.sample(20_000, do={"Mustache": 1}, seed=0)
    assert abs(intv["Male"].mean() - 0.42) < 0.02  # 5.7 standard errors
    cond = scm.sample(200, given={"Mustache": 1}, seed=0, size=32)  # the image sampler takes given= too
    assert (cond.labels["Mustache"] == 1).all() and cond.labels["Male"].mean() > 0.9 and len(cond) == 200


@pytest.mark.parametrize("size", [32, 64])
def test_a_woman_with_a_mustache_is_drawn_in_the_mustache_region(size, scms):
    scm = scms["faces"]
    d = scm.sample(60, do={"Male": 0, "Mustache": 0}, seed=4, size=size)
    cf = scm.counterfactual(d, do={"Mustache": 1})
    assert (cf.labels["Male"] == 0).all() and (cf.labels["Mustache"] == 1).all()
    diff = np.abs(cf.images.astype(int) - d.images).max(axis=3)
    rows, cols = np.nonzero(diff.max(axis=0))
    # the mustache sits above the mouth: y in about [0.13, 0.31], x in ±0.25 of the window
    # [-0.86, 0.86] x [-0.82, 0.90]; allow jitter and anti-aliasing
    assert rows.min() >= 0.50 * size and rows.max() <= 0.75 * size
    assert cols.min() >= 0.30 * size and cols.max() <= 0.70 * size
    per_face = (diff > 30).reshape(len(d), -1).sum(axis=1)
    assert per_face.min() >= 0.01 * size * size  # >= 10 pixels at 32 px, 41 at 64 px (measured 16 and 61)


def test_every_face_attribute_changes_pixels_when_flipped(scms):
    scm = scms["faces"]
    d = scm.sample(300, seed=9, size=32)
    for a in FACE_ATTRIBUTES:
        flipped = d.labels.copy()
        flipped[a] = 1 - flipped[a]
        diff = np.abs(scm.render(flipped, d.style, 32).astype(int) - d.images).max(axis=3)
        changed = (diff >= 20).reshape(len(d), -1).sum(axis=1)
        assert changed.min() >= 4, (a, int(np.argmin(changed)), int(changed.min()))


def test_glyph_thickness_increases_ink(scms):
    scm = scms["morpho-glyphs"]
    thin = scm.sample(200, do={"thickness": 1.5, "intensity": 200.0}, seed=6, size=28)
    thick = scm.sample(200, do={"thickness": 3.5, "intensity": 200.0}, seed=6, size=28)
    ink_thin, ink_thick = (x.images.reshape(200, -1).sum(axis=1).astype(float) for x in (thin, thick))
    assert (ink_thick > ink_thin).all() and np.median(ink_thick / ink_thin) > 1.8
    assert thin.images.max() == thick.images.max() == 200  # intensity is the peak grey level
    # observationally, thicker strokes are brighter (thickness -> intensity)
    obs = scm.sample(2000, seed=6)
    assert np.corrcoef(obs.labels["thickness"], obs.labels["intensity"])[0, 1] > 0.5


def test_render_and_counterfactual_errors(scms):
    faces = scms["faces"]
    d = faces.sample(4, seed=0)
    with pytest.raises(ImageDataError, match="Mustache"):
        faces.render(d.labels.drop(columns="Mustache"), d.style)
    with pytest.raises(ImageDataError, match="style"):
        faces.render(d.labels)
    with pytest.raises(ImageDataError, match="no ground-truth style"):
        faces.counterfactual(d.with_images(d.images), do={"Male": 1})
    with pytest.raises(ImageDataError, match="size"):
        faces.sample(4, size=3)


def test_pixel_error():
    a = np.zeros((2, 4, 4, 1), np.uint8)
    assert pixel_error(a, a) == 0.0 and pixel_error(a, a + 255) == 1.0
    assert abs(pixel_error(a, a + 51) - 0.2) < 1e-7
    with pytest.raises(ImageDataError, match="shapes"):
        pixel_error(a, np.zeros((2, 4, 4, 3), np.uint8))


# ---------------------------------------------------------------------- Morpho-MNIST
def test_morpho_mnist_reads_the_real_files(shared_data):
    folder = shared_data / "morphomnist"
    if not (folder / "t10k-morpho.csv").is_file():
        pytest.skip(f"Morpho-MNIST files are absent from {folder}")
    d = load_morpho_mnist(folder)
    assert len(d) == 10_000 and d.images.shape == (10_000, 28, 28, 1) and d.images.dtype == np.uint8
    csv = pd.read_csv(folder / "t10k-morpho.csv")
    np.testing.assert_array_equal(d.labels["thickness"].to_numpy(), csv["thickness"].to_numpy())
    np.testing.assert_array_equal(d.labels["intensity"].to_numpy(), csv["intensity"].to_numpy())
    assert list(d.labels.columns) == ["thickness", "intensity", "digit"]
    assert set(d.labels["digit"].unique()) == set(range(10)) and d.labels["digit"].iloc[0] == 7  # MNIST's first test digit
    # intensity is the brightest grey level of a digit (up to the scale-0.5 resampling)
    peak = d.images.reshape(10_000, -1).max(axis=1)
    assert np.corrcoef(peak, d.labels["intensity"])[0, 1] > 0.9
    head = load_morpho_mnist(folder, n=100)
    assert len(head) == 100 and np.array_equal(head.images, d.images[:100])


def test_morpho_mnist_errors_name_the_file(tmp_path):
    with pytest.raises(ImageDataError, match="no Morpho-MNIST folder"):
        load_morpho_mnist(tmp_path / "nope")
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big") + b"\x00" * 10)
    pd.DataFrame({"index": range(5), "thickness": 1.0, "intensity": 100.0}).to_csv(tmp_path / "t10k-morpho.csv", index=False)
    with pytest.raises(ImageDataError, match="t10k-images-idx3-ubyte is truncated"):
        load_morpho_mnist(tmp_path)
    header = b"\x00\x00\x08\x03" + b"".join(k.to_bytes(4, "big") for k in (5, 2, 2))
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(header + bytes(20))
    d = load_morpho_mnist(tmp_path)
    assert d.images.shape == (5, 2, 2, 1) and list(d.labels.columns) == ["thickness", "intensity"]
    pd.DataFrame({"thickness": [1.0] * 4, "intensity": 100.0}).to_csv(tmp_path / "t10k-morpho.csv", index=False)
    with pytest.raises(ImageDataError, match="t10k-morpho.csv has 4 rows but"):
        load_morpho_mnist(tmp_path)


# ---------------------------------------------------------------------- folders of images
def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    names = [f"img{i}.png" for i in range(5)]
    for name in names:
        _write(root / name, rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    pd.DataFrame({"file": names, "smile": [0, 1, 0, 1, 1], "age": [20.5, 30, 41, 52, 63]}).to_csv(root / "labels.csv", index=False)
    return root


@pytest.mark.parametrize("name", list(CHANNELS))
def test_folder_round_trip(name, tmp_path):
    d = load(name, n=6, seed=1, size=32).data
    out = save_image_folder(d, tmp_path / name)
    assert (out / "labels.csv").is_file() and len(list(out.glob("*.png"))) == 6
    back = load_image_folder(out)
    assert np.array_equal(back.images, d.images)
    np.testing.assert_allclose(back.labels.to_numpy(float), d.labels.to_numpy(float), rtol=1e-12)
    assert list(back.labels.columns) == list(d.labels.columns)
    again = save_image_folder(back, tmp_path / f"{name}-again")  # names kept on a second trip
    assert sorted(p.name for p in again.glob("*.png")) == sorted(back.labels.index)
    with pytest.raises(ImageDataError, match="already exists"):
        save_image_folder(d, out)
    with zipfile.ZipFile(tmp_path / f"{name}.zip", "w") as z:
        for p in out.iterdir():
            z.write(p, f"top/{p.name}")
    zipped = load_image_folder(tmp_path / f"{name}.zip")
    assert np.array_equal(zipped.images, d.images)


def test_folder_reads_labels_and_index(folder):
    d = load_image_folder(folder)
    assert d.images.shape == (5, 16, 16, 3) and list(d.labels.columns) == ["smile", "age"]
    assert list(d.labels.index) == [f"img{i}.png" for i in range(5)]
    (folder / "labels.csv").rename(folder.parent / "elsewhere.csv")
    bare = load_image_folder(folder)
    assert len(bare) == 5 and bare.labels.shape == (5, 0)
    d2 = load_image_folder(folder, labels_csv=folder.parent / "elsewhere.csv", size=8)
    assert d2.images.shape == (5, 8, 8, 3) and d2.labels["smile"].tolist() == [0, 1, 0, 1, 1]
    grey = load_image_folder(folder, labels_csv=folder.parent / "elsewhere.csv", channels=1)
    assert grey.images.shape == (5, 16, 16, 1)


def test_folder_error_corrupt_image_names_the_file(folder):
    (folder / "img3.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageDataError, match="'img3.png'.*corrupt"):
        load_image_folder(folder)


def test_folder_error_missing_listed_image_names_the_file(folder):
    (folder / "img2.png").unlink()
    with pytest.raises(ImageDataError, match="'img2.png' listed in .*labels.csv.* is not in"):
        load_image_folder(folder)


def test_folder_error_sizes_and_modes_name_the_file(folder):
    _write(folder / "img4.png", np.zeros((20, 24, 3), np.uint8))
    with pytest.raises(ImageDataError, match="'img4.png' is 24x20 pixels but 'img0.png' is 16x16; give size="):
        load_image_folder(folder)
    assert load_image_folder(folder, size=12).images.shape == (5, 12, 12, 3)
    _write(folder / "img4.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(ImageDataError, match="'img4.png' is grey but 'img0.png' is colour"):
        load_image_folder(folder)
    mixed = load_image_folder(folder, size=16)
    assert mixed.images.shape == (5, 16, 16, 3)


def test_folder_error_csv_without_file_column_names_csv_and_column(folder):
    pd.read_csv(folder / "labels.csv").rename(columns={"file": "path"}).to_csv(folder / "labels.csv", index=False)
    with pytest.raises(ImageDataError, match="labels.csv.*no 'file' column.*path"):
        load_image_folder(folder)
    assert len(load_image_folder(folder, image_column="path")) == 5


def test_folder_error_duplicates_name_the_file(folder, tmp_path):
    table = pd.read_csv(folder / "labels.csv")
    table.loc[3, "file"] = "./img1.png"
    table.to_csv(folder / "labels.csv", index=False)
    with pytest.raises(ImageDataError, match="lists the file 'img1.png' twice"):
        load_image_folder(folder)
    with zipfile.ZipFile(tmp_path / "dup.zip", "w") as z, pytest.warns(UserWarning, match="Duplicate name"):
        z.writestr("a.png", (folder / "img0.png").read_bytes())
        z.writestr("a.png", (folder / "img1.png").read_bytes())
    with pytest.raises(ImageDataError, match="holds the file 'a.png' twice"):
        load_image_folder(tmp_path / "dup.zip")


def test_folder_errors_for_paths(tmp_path):
    with pytest.raises(ImageDataError, match="no such folder or .zip"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImageDataError, match="neither a folder nor a .zip"):
        load_image_folder(tmp_path / "x.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageDataError, match="no PNG or JPEG"):
        load_image_folder(tmp_path / "empty")


def test_jpeg_and_subfolders(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(3):
        p = tmp_path / "sub" / f"p{i}.jpg"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(p, quality=95)
    pd.DataFrame({"file": ["p0.jpg", "sub/p1.jpg", "p2.jpg"], "y": [1, 2, 3]}).to_csv(tmp_path / "labels.csv", index=False)
    d = load_image_folder(tmp_path)
    assert d.images.shape == (3, 10, 10, 3) and d.labels["y"].tolist() == [1, 2, 3]


# ---------------------------------------------------------------------- pictures
def test_save_png_single_and_grid(tmp_path):
    d = load("faces", n=6, seed=0).data
    p = save_png(d, tmp_path / "g" / "grid.png", columns=3)
    back = np.asarray(Image.open(p))
    assert back.shape == (2 * 33 + 1, 3 * 33 + 1, 3)
    p1 = save_png(load("morpho-glyphs", n=1).data.images[0], tmp_path / "one.png")
    assert np.asarray(Image.open(p1)).shape == (32, 32)
    with pytest.raises(ImageDataError, match="uint8"):
        save_png(np.zeros((4, 4), np.float32), tmp_path / "bad.png")


@pytest.mark.parametrize("name,file", [("pendulum", "pendulum.png"), ("faces", "faces.png"), ("morpho-glyphs", "glyphs.png")])
def test_assets_are_drawn_by_this_code(name, file):
    path = REPO / "assets" / file
    assert path.is_file() and path.stat().st_size < 200_000
    stored = np.asarray(Image.open(path))
    fresh = D.example_grid(name)
    fresh = fresh[..., 0] if fresh.shape[-1] == 1 else fresh
    assert stored.shape == fresh.shape and pixel_error(stored, fresh) < 0.002, "regenerate: python -m causal.images assets"
