"""The robust manifold defense (generators.inverse.defense): PGD stays in its ball and fools a
tiny classifier, the projection lands on the generator's range, BPDA's gradient is the
identity-approximated one, classifier checkpoints round-trip, and the ``defend`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from app.cli import main
from generators import build_model
from generators.inverse.defense import (
    ClassifierConfig, DefenseError, DefenseReport, IdentityOperator, Projection, as_images, bpda, evaluate_defense,
    fit_classifier, latent_attack, load_classifier, pgd_attack, project,
)
from generators.training import TrainConfig
from test_image_base import GRAPH, squares

FAST = Projection(restarts=3, steps=60)


@pytest.fixture(scope="module")
def toy():
    """Squares at 16 px, class = bright (grey level 255 against 110): train and test images."""
    train, test = squares(400, seed=0), squares(40, seed=7)
    clf = fit_classifier(train.images, train.labels["bright"], ClassifierConfig(width=4, hidden=16, epochs=10, lr=5e-3, batch_size=32), seed=0)
    return clf, as_images(test.images), test.labels["bright"].tolist()


@pytest.fixture(scope="module")
def tiny_generator():
    model = build_model("ccgm", GRAPH, hidden=8, steps=200, width=8, style_dim=2, cycle_weight=5.0, beta=1.0,
                        image_train=TrainConfig(steps=300, batch_size=32, lr=1e-2, val_fraction=0.1))
    model.fit(squares(600), seed=0)
    return model


def test_classifier_learns_and_pgd_stays_in_its_ball(toy):
    clf, x, classes = toy
    y = clf.index(classes)
    assert clf.classes == [0, 1]
    assert clf.accuracy(x, y) >= 0.95  # the grey level tells the classes apart
    for eps in (0.05, 0.3):
        adv = pgd_attack(clf, x, y, eps, steps=10, seed=1)
        assert float((adv - x).abs().max()) <= eps + 1e-6
        assert float(adv.min()) >= 0 and float(adv.max()) <= 1
        assert torch.equal(adv, pgd_attack(clf, x, y, eps, steps=10, seed=1))  # seeded
    adv = pgd_attack(clf, x, y, 0.3, steps=10, seed=1)
    assert clf.accuracy(adv, y) <= 0.2, clf.accuracy(adv, y)  # 255 vs 110 is within 2 x 0.3 x 255 of the boundary
    # without a random start, one step of size eps is FGSM: every pixel moves by exactly eps unless clipped
    fgsm = pgd_attack(clf, x, y, 0.05, steps=1, step=0.05, random_start=False)
    moved = (fgsm - x).abs()
    inside = (x > 0.05) & (x < 0.95)
    assert torch.allclose(moved[inside & (moved > 0)], torch.tensor(0.05), atol=1e-6)


def test_bpda_gradient_is_the_identity_approximation(toy):
    clf, x, classes = toy
    y = clf.index(classes)[:6]
    x = x[:6]

    def transform(t):  # any non-differentiable-looking map: a blur and a quantization
        return (F.avg_pool2d(t, 3, stride=1, padding=1) * 8).round() / 8

    z = x.clone().requires_grad_(True)
    out = bpda(z, transform)
    assert torch.equal(out.detach(), transform(x))  # forward: the transform itself
    (g_bpda,) = torch.autograd.grad(F.cross_entropy(clf(out), y, reduction="sum"), z)
    u = transform(x).requires_grad_(True)
    (g_at_u,) = torch.autograd.grad(F.cross_entropy(clf(u), y, reduction="sum"), u)
    assert torch.equal(g_bpda, g_at_u)  # backward: the classifier's gradient at the transformed image, unchanged


def test_projection_lands_on_the_generators_range(tiny_generator):
    gen = tiny_generator.sample(6, seed=3)
    x = as_images(gen.images)  # generated images: on the range up to the uint8 rounding
    how = Projection(restarts=10, steps=200)
    p = project(x, tiny_generator, how, seed=0)
    assert p.shape == x.shape and float(p.min()) >= 0 and float(p.max()) <= 1
    err = ((p - x) ** 2).flatten(1).mean(1)
    constant = float(((x - x.mean()) ** 2).mean())  # 0.03: the best constant image
    assert float(err.max()) < 1e-3, (err, constant)  # tolerance: per-pixel MSE below 0.001 for every image
    again = project(p, tiny_generator, how, seed=1)  # a projection is (nearly) a fixed point of the projection
    assert float(((again - p) ** 2).mean()) < 1e-3
    assert torch.equal(p, project(x, tiny_generator, how, seed=0))  # seeded
    with pytest.raises(ValueError, match="16x16 images with 1 channel"):
        project(torch.zeros(2, 1, 8, 8), tiny_generator, FAST)


def test_evaluate_defense_reports_every_accuracy(toy, tiny_generator):
    clf, x, classes = toy
    rep = evaluate_defense(clf, tiny_generator, x[:8], classes[:8], eps=(0.1,), pgd_steps=5, bpda_steps=2,
                           projection=FAST, attack_projection=Projection(restarts=1, steps=20))
    assert rep.n == 8 and rep.eps == (0.1,)
    for v in (rep.clean, rep.clean_projected, *rep.pgd, *rep.transfer, *rep.bpda):
        assert 0 <= v <= 1
    assert rep.seconds_per_projection > 0 and rep.projections == 8 * 3 + 8 * 2
    d = rep.to_dict()
    assert d["eps"] == [0.1] and d["projection"]["restarts"] == 3 and len(rep.table()) == 2
    skipped = evaluate_defense(clf, tiny_generator, x[:4], classes[:4], eps=(0.1,), pgd_steps=2, bpda_steps=0,
                               projection=FAST)
    assert skipped.bpda == () and np.isnan(skipped.table()[1]["bpda"])


def test_classifier_checkpoint_round_trip(tmp_path, toy):
    clf, x, _ = toy
    train = squares(60, seed=2)
    names = np.where(train.labels["bright"] == 1, "bright", "dim")
    named = fit_classifier(train.images, names, ClassifierConfig(width=4, hidden=8, epochs=1), seed=3)
    for model in (clf, named):
        model.save(tmp_path / "c")
        back = load_classifier(tmp_path / "c")
        assert back.classes == model.classes and back.shape == model.shape and back.config == model.config
        assert torch.equal(back(x), model(x).detach())
    assert named.classes == ["bright", "dim"]
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["classifier.json", "classifier.safetensors"]
    weights = tmp_path / "c" / "classifier.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(DefenseError, match="does not match the hash"):
        load_classifier(tmp_path / "c")
    with pytest.raises(DefenseError, match="not a saved classifier"):
        load_classifier(tmp_path)
    # the same seed, the same weights
    again = fit_classifier(train.images, names, ClassifierConfig(width=4, hidden=8, epochs=1), seed=3)
    assert torch.equal(again(x), named(x))


def test_errors_name_the_problem(toy, tiny_generator):
    clf, x, classes = toy
    y = clf.index(classes)
    for eps in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(DefenseError, match="0 < eps <= 1"):
            pgd_attack(clf, x, y, eps)
    with pytest.raises(DefenseError, match="one class index each"):
        pgd_attack(clf, x, y[:3], 0.1)
    with pytest.raises(DefenseError, match=r"images of shape \(1, 16, 16\)"):
        clf.predict(torch.zeros(2, 1, 32, 32))
    with pytest.raises(DefenseError, match="class 7 is not one the classifier knows"):
        clf.index([0, 7])
    with pytest.raises(DefenseError, match="40 images but 3 class labels"):
        fit_classifier(x, [0, 1, 0])
    with pytest.raises(DefenseError, match="at least two distinct classes"):
        fit_classifier(x[:4], [1, 1, 1, 1])
    with pytest.raises(DefenseError, match="pixels must lie in"):
        as_images(torch.full((1, 1, 16, 16), 2.0))
    small = squares(20, seed=1, size=8)
    clf8 = fit_classifier(small.images, small.labels["bright"], ClassifierConfig(width=2, hidden=4, epochs=1))
    with pytest.raises(DefenseError, match=r"the generator draws images of shape \(1, 16, 16\) but the images have "
                                           r"shape \(1, 8, 8\)"):
        evaluate_defense(clf8, tiny_generator, small.images, small.labels["bright"])
    with pytest.raises(DefenseError, match="give at least one eps"):
        evaluate_defense(clf, tiny_generator, x, classes, eps=())
    with pytest.raises(DefenseError, match="0 < eps <= 1"):
        evaluate_defense(clf, tiny_generator, x, classes, eps=(0.3, 2))


def test_cli_defend_round_trip(tmp_path, tiny_generator, capsys):
    from causal.images import save_image_folder

    tiny_generator.save(tmp_path / "model")
    data = squares(70, seed=5)
    save_image_folder(data, tmp_path / "imgs")
    out = tmp_path / "d.json"
    base = ["defend", str(tmp_path / "model"), "--data", str(tmp_path / "imgs"), "--label", "bright", "--train-n", "60",
            "--n", "6", "--epochs", "2", "--pgd-steps", "4", "--bpda-steps", "2", "--restarts", "2", "--steps", "30",
            "--latent-steps", "5"]
    code = main([*base, "--eps", "0.1", "0.3", "--save-classifier", str(tmp_path / "clf"), "--json", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    rec = json.loads(out.read_text())
    for key in ("clean", "clean_projected", "pgd", "transfer", "bpda", "seconds_per_projection", "eps", "n",
                "projection", "attack_projection", "classes", "model", "data", "label", "n_train"):
        assert key in rec, key
    assert rec["eps"] == [0.1, 0.3] and rec["n"] == 6 and len(rec["pgd"]) == len(rec["bpda"]) == 2
    assert len(rec["latent"]) == len(rec["worst"]) == 2 and rec["latent_steps"] == 5
    assert all(w <= min(t, b, la) for w, t, b, la in zip(rec["worst"], rec["transfer"], rec["bpda"], rec["latent"]))
    assert rec["label"] == "bright" and rec["classes"] == [0, 1] and rec["n_train"] == 60
    assert rec["projection"] == {"restarts": 2, "steps": 30, "lr": 0.05, "prior": 0.1, "batch": 64}
    assert "projected" in cap.out and "BPDA" in cap.out and "latent" in cap.out and "worst" in cap.out
    # the saved classifier is reused: no training
    code = main([*base, "--eps", "0.2", "--bpda-steps", "0", "--latent-steps", "0",
                 "--classifier", str(tmp_path / "clf"), "--json", str(out)])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    rec = json.loads(out.read_text())
    assert "training a classifier" not in cap.err and rec["bpda"] == [] and rec["latent"] == []
    assert rec["worst"] == rec["transfer"]  # only the projected PGD images were run against the defense


@pytest.mark.parametrize("extra, message", [
    (["--eps", "0"], "0 < eps <= 1; got 0"),
    (["--eps", "1.5"], "0 < eps <= 1; got 1.5"),
    (["--label", "nope"], "--label must name the class column"),
    (["--train-n", "100"], "has 70 images; --train-n 100 plus --n 6 need more"),
    (["--bpda-steps", "-1"], "--bpda-steps is a number of attack steps >= 0"),
    (["--latent-steps", "-1"], "--latent-steps is a number of attack steps >= 0"),
])
def test_cli_defend_errors(tmp_path, tiny_generator, capsys, extra, message):
    from causal.images import save_image_folder

    tiny_generator.save(tmp_path / "model")
    save_image_folder(squares(70, seed=5), tmp_path / "imgs")
    argv = ["defend", str(tmp_path / "model"), "--data", str(tmp_path / "imgs"), "--label", "bright", "--train-n", "60",
            "--n", "6", *extra]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err, err


def test_cli_defend_classifier_of_another_size(tmp_path, tiny_generator, capsys):
    from causal.images import save_image_folder

    tiny_generator.save(tmp_path / "model")
    save_image_folder(squares(70, seed=5), tmp_path / "imgs")
    small = squares(40, seed=1, size=8)
    fit_classifier(small.images, small.labels["bright"], ClassifierConfig(width=2, hidden=4, epochs=1)).save(tmp_path / "c8")
    code = main(["defend", str(tmp_path / "model"), "--data", str(tmp_path / "imgs"), "--label", "bright",
                 "--train-n", "60", "--n", "6", "--classifier", str(tmp_path / "c8")])
    err = capsys.readouterr().err
    assert code == 2 and "the classifier takes images of shape (1, 8, 8)" in err and "(6, 1, 16, 16)" in err, err


def test_latent_attack_finds_misclassified_images_on_the_range(toy, tiny_generator):
    """The tiny generator draws dim (grey 110) and bright (255) squares and, labels relaxed, greys
    between: at eps 0.3 a dim square may turn 0.3 brighter (to grey 186), which the classifier
    calls bright and the generator can draw, so on dim images the latent attack must beat the
    projection. (A bright square cannot get dim enough within 0.3: there the range has nothing.)"""
    clf, x, classes = toy
    y = clf.index(classes)
    dim = (y == 0).nonzero()[:, 0][:6]
    x, y = x[dim], y[dim]
    select = Projection(restarts=2, steps=60)
    kw = {"steps": 100, "restarts": 3, "start_steps": 60, "select": select, "seed": 0}
    adv = latent_attack(clf, tiny_generator, x, y, 0.3, **kw)
    assert adv.shape == x.shape and float(adv.min()) >= 0 and float(adv.max()) <= 1
    assert float((adv - x).abs().max()) <= 0.3 + 1e-6  # in the ball
    defended_clean = clf.accuracy(project(x, tiny_generator, FAST, seed=5), y)
    defended_adv = clf.accuracy(project(adv, tiny_generator, FAST, seed=5), y)  # a fresh projection, as the defense
    assert defended_clean == 1.0, defended_clean
    assert defended_adv <= 0.2, defended_adv  # tolerance: at most 1 of the 6 survives (measured: none)
    assert torch.equal(adv, latent_attack(clf, tiny_generator, x, y, 0.3, **kw))  # seeded
    small = latent_attack(clf, tiny_generator, x[:4], y[:4], 0.02, steps=5, restarts=1, start_steps=10,
                          select=Projection(restarts=1, steps=5))
    assert float((small - x[:4]).abs().max()) <= 0.02 + 1e-6


def test_latent_attack_errors(toy, tiny_generator):
    clf, x, classes = toy
    y = clf.index(classes)
    for kw, message in [({"eps": 0}, "0 < eps <= 1"), ({"steps": 0}, "steps >= 1"), ({"restarts": 0}, "restarts >= 1"),
                        ({"c": -1.0}, "c must be a non-negative"), ({"lr": 0.0}, "lr must be a positive"),
                        ({"kappa": float("nan")}, "kappa must be")]:
        args = {"eps": 0.1, **kw}
        with pytest.raises(DefenseError, match=message):
            latent_attack(clf, tiny_generator, x[:2], y[:2], **args)
    with pytest.raises(DefenseError, match="one class index each"):
        latent_attack(clf, tiny_generator, x[:2], y[:3], 0.1)
    with pytest.raises(DefenseError, match="latent_steps >= 0"):
        evaluate_defense(clf, tiny_generator, x[:2], classes[:2], latent_steps=-1)


def test_evaluate_defense_latent_column_and_worst_case(toy, tiny_generator):
    clf, x, classes = toy
    attack = Projection(restarts=1, steps=20)
    rep = evaluate_defense(clf, tiny_generator, x[:8], classes[:8], eps=(0.1, 0.3), pgd_steps=5, bpda_steps=2,
                           projection=FAST, attack_projection=attack, latent_steps=20)
    assert len(rep.latent) == len(rep.worst) == 2 and rep.latent_steps == 20 and rep.latent_restarts == 3
    for i in range(2):  # an image survives the worst case only if it survives every attack
        assert rep.worst[i] <= min(rep.transfer[i], rep.bpda[i], rep.latent[i]) + 1e-9
        assert rep.worst[i] >= 0
    # clean 8, per eps: 8 PGD + 2 x 8 BPDA + 8 BPDA images, 8 latent starts + 8 x 2 x 3 candidates + 8 latent images
    assert rep.projections == 8 + 2 * (8 + 2 * 8 + 8 + 8 + 8 * 2 * 3 + 8)
    rows = rep.table()
    assert [r["latent"] for r in rows[1:]] == list(rep.latent) and [r["worst"] for r in rows[1:]] == list(rep.worst)
    assert DefenseReport.from_dict(json.loads(json.dumps(rep.to_dict()))) == rep
    none = evaluate_defense(clf, tiny_generator, x[:4], classes[:4], eps=(0.1,), pgd_steps=2, bpda_steps=0,
                            projection=FAST)
    assert none.latent == () and none.worst == (none.transfer[0],) and np.isnan(none.table()[1]["latent"])


def test_old_defense_reports_load():
    """A report's JSON from before the latent attack (no latent, worst, latent_* keys) loads with
    their defaults; extra keys of a record (source, classes, ...) are ignored."""
    old = {"n": 4, "eps": [0.1], "clean": 1.0, "clean_projected": 0.75, "pgd": [0.0], "transfer": [0.5],
           "bpda": [0.25], "seconds_per_projection": 0.1, "projections": 20, "pgd_steps": 5, "bpda_steps": 2,
           "projection": {"restarts": 3, "steps": 60, "lr": 0.05, "prior": 0.1, "batch": 64},
           "attack_projection": {"restarts": 1, "steps": 20, "lr": 0.05, "prior": 0.1, "batch": 64},
           "seed": 0, "seconds": 3.0, "source": "squares", "classes": [0, 1]}
    rep = DefenseReport.from_dict(old)
    assert rep.latent == () and rep.worst == () and rep.latent_steps == 0 and rep.projection == Projection(3, 60)
    assert rep.bpda == (0.25,) and np.isnan(rep.table()[1]["latent"]) and np.isnan(rep.table()[1]["worst"])


def test_generator_prior_latents_redraw_the_images(tiny_generator):
    from generators.inverse.csgm import generator_prior_batch, generator_prior_latents

    x = as_images(squares(3, seed=9).images)
    op = IdentityOperator((1, 16, 16))
    imgs, err, lab, z = generator_prior_latents(op.forward(x), op, tiny_generator, seed=2, restarts=3, steps=20)
    assert imgs.shape == (9, 1, 16, 16) and err.shape == (3, 3) and len(lab) == len(z) == 9
    with torch.no_grad():
        assert torch.allclose(tiny_generator._decode(lab, z).cpu(), imgs, atol=1e-6)
    best, best_err = generator_prior_batch(op.forward(x), op, tiny_generator, seed=2, restarts=3, steps=20)
    assert torch.equal(best_err, err.min(1).values)
    assert torch.equal(best, imgs.view(3, 3, 1, 16, 16)[torch.arange(3), err.argmin(1)].clamp(0, 1))
