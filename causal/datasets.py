"""Built-in datasets with known ground truth: the tabular SCMs of the causal
normalizing-flow benchmark (Javaloy et al., NeurIPS 2023), the loan SCM of the fairness
literature, and the pendulum's four factors (after CausalVAE).

>>> ds = load("triangle-lin", n=100, seed=0)
>>> ds.data.shape, ds.graph.nodes
((100, 3), ('x1', 'x2', 'x3'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from causal.graph import CausalGraph
from causal.scm import SCM, Mechanism, additive, bernoulli, categorical, location_scale, normal, uniform

__all__ = ["Dataset", "DatasetInfo", "names", "load", "info", "random_mlp", "intervened_nodes"]


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def softplus_inv(y: np.ndarray) -> np.ndarray:
    y = np.maximum(y, 1e-12)
    return y + np.log(-np.expm1(-y))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class DatasetInfo:
    """A built-in dataset: its name, what it shows, where its interventions go, and its true
    structural equations as text, one line per node (for display: ``u`` is exogenous noise,
    N(0, 1) unless said otherwise; s(x) = softplus(x), σ = logistic sigmoid)."""

    name: str
    description: str
    graph: CausalGraph
    intervene_on: tuple[str, ...]  # the benchmark protocol's intervened nodes
    build: Callable[[], SCM]
    equations: str = ""

    @property
    def scm(self) -> SCM:
        return self.build()


@dataclass(frozen=True)
class Dataset:
    """Data drawn from a known SCM, with the SCM itself for exact answers."""

    name: str
    description: str
    data: pd.DataFrame
    graph: CausalGraph
    scm: SCM
    intervene_on: tuple[str, ...]


# ---------------------------------------------------------------------- the SCMs
def _g(text: str) -> CausalGraph:
    return CausalGraph.parse(text)


def _triangle_lin() -> SCM:
    return SCM(_g("x1 -> x2; x1 -> x3; x2 -> x3"), {
        "x1": additive(lambda pa: 1.0, normal()),
        "x2": additive(lambda pa: 10 * pa["x1"], normal()),  # x2 = 10 x1 - u2, u2 symmetric
        "x3": additive(lambda pa: 0.5 * pa["x2"] + pa["x1"], normal()),
    }, name="triangle-lin")


def _triangle_nlin() -> SCM:
    return SCM(_g("x1 -> x2; x1 -> x3; x2 -> x3"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: 2 * pa["x1"] ** 2, normal()),
        "x3": additive(lambda pa: 20 / (1 + np.exp(-pa["x2"] ** 2 + pa["x1"])), normal()),
    }, name="triangle-nlin")


def _chain5_lin() -> SCM:
    return SCM(_g("x1 -> x2 -> x3 -> x4 -> x5"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: 10 * pa["x1"], normal()),
        "x3": additive(lambda pa: 0.25 * pa["x2"], normal(2.0)),
        "x4": additive(lambda pa: pa["x3"], normal()),
        "x5": additive(lambda pa: -pa["x4"], normal()),
    }, name="chain5-lin")


def _fork_nlin() -> SCM:
    return SCM(_g("x1 -> x3; x2 -> x3; x3 -> x4"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: 0.0, normal()),
        "x3": additive(lambda pa: 4 / (1 + np.exp(-pa["x1"] - pa["x2"])) - pa["x2"] ** 2, normal(0.5)),
        "x4": additive(lambda pa: 20 / (1 + np.exp(pa["x3"] ** 2 / 2 - pa["x3"])), normal()),
    }, name="fork-nlin")


def _simpson_nlin() -> SCM:
    def x3_loc(pa):
        return np.tanh(2 * pa["x2"]) + 1.5 * pa["x1"] - 1

    return SCM(_g("x1 -> x2; x1 -> x3; x2 -> x3; x3 -> x4"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: softplus(1 - pa["x1"]), normal(np.sqrt(3 / 20))),
        "x3": Mechanism(
            normal(),
            lambda pa, u: x3_loc(pa) + np.tanh(u),
            lambda pa, x, rng: np.arctanh(np.clip(x - x3_loc(pa), -1 + 1e-15, 1 - 1e-15)),
        ),
        "x4": additive(lambda pa: (pa["x3"] - 4) / 5 + 3, normal(1 / np.sqrt(10))),
    }, name="simpson-nlin")


def _simpson_symprod() -> SCM:
    return SCM(_g("x1 -> x2; x1 -> x3; x2 -> x3; x1 -> x4"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: 2 * np.tanh(2 * pa["x1"]), normal(1 / np.sqrt(10))),
        "x3": additive(lambda pa: 0.5 * pa["x1"] * pa["x2"], normal(1 / np.sqrt(2))),
        "x4": additive(lambda pa: np.tanh(1.5 * pa["x1"]), normal(np.sqrt(3 / 10))),
    }, name="simpson-symprod")


def _large_backdoor() -> SCM:
    def L(a, b):
        return softplus(a + 1) + softplus(0.5 + b) - 3

    def l_mech(parent: str) -> Mechanism:  # x = L(parent, u), invertible in u
        return Mechanism(
            uniform,
            lambda pa, u: L(pa[parent], u),
            lambda pa, x, rng: softplus_inv(x - softplus(pa[parent] + 1) + 3) - 0.5,
        )

    def x9_loc(pa):
        return -softplus((1.3 * pa["x7"] + pa["x8"]) / 3 + 1) + 2

    def laplace_q(u):
        return -np.sign(u - 0.5) * np.log1p(-2 * np.abs(u - 0.5))

    def laplace_cdf(z):
        return np.where(z < 0, 0.5 * np.exp(z), 1 - 0.5 * np.exp(-z))

    return SCM(_g("x1 -> x2; x1 -> x3; x2 -> x4; x3 -> x5; x4 -> x6; x5 -> x7; x6 -> x8; x7 -> x9; x8 -> x9"), {
        "x1": Mechanism(uniform, lambda pa, u: softplus(1.8 * u) - 1, lambda pa, x, rng: softplus_inv(x + 1) / 1.8),
        "x2": Mechanism(uniform, lambda pa, u: 0.25 * u + 1.5 * L(pa["x1"], 0.0), lambda pa, x, rng: (x - 1.5 * L(pa["x1"], 0.0)) / 0.25),
        "x3": l_mech("x1"),
        "x4": l_mech("x2"),
        "x5": l_mech("x3"),
        "x6": l_mech("x4"),
        "x7": l_mech("x5"),
        "x8": Mechanism(uniform, lambda pa, u: 0.3 * u + softplus(pa["x6"] + 1) - 1, lambda pa, x, rng: (x - softplus(pa["x6"] + 1) + 1) / 0.3),
        "x9": Mechanism(
            uniform,
            lambda pa, u: x9_loc(pa) + 0.6 * laplace_q(u),
            lambda pa, x, rng: laplace_cdf((x - x9_loc(pa)) / 0.6),
        ),
    }, name="large-backdoor")


def _hetero_nlin() -> SCM:
    return SCM(_g("x1 -> x3; x2 -> x3; x1 -> x4; x3 -> x4; x3 -> x5; x2 -> x5; x4 -> x6; x5 -> x6"), {
        "x1": additive(lambda pa: 0.0, normal()),
        "x2": additive(lambda pa: 0.0, normal()),
        "x3": location_scale(lambda pa: np.sin(pa["x1"]) + 0.5 * pa["x2"], lambda pa: 0.2 + softplus(pa["x1"]), normal()),
        "x4": location_scale(lambda pa: 0.25 * pa["x3"] ** 2 - pa["x1"], lambda pa: 0.3 + 0.5 * np.abs(pa["x3"]), normal()),
        "x5": additive(lambda pa: np.tanh(pa["x3"]) + pa["x2"] / 3, normal(0.5)),
        "x6": location_scale(lambda pa: pa["x5"] - 0.3 * pa["x4"], lambda pa: 0.5 * softplus(pa["x5"]), normal()),
    }, name="hetero-nlin")


def _treatment() -> SCM:
    return SCM(_g("x -> T; x -> M; T -> M; x -> Y; T -> Y; M -> Y").with_kinds({"T": "binary"}), {
        "x": additive(lambda pa: 0.0, normal()),
        "T": bernoulli(lambda pa: sigmoid(1.5 * pa["x"])),
        "M": additive(lambda pa: 0.8 * pa["T"] + 0.5 * pa["x"], normal(0.5)),
        "Y": additive(lambda pa: np.sin(pa["x"]) + pa["T"] + 0.8 * pa["M"] + 0.3 * pa["T"] * pa["x"], normal(0.5)),
    }, categories={"T": (0, 1)}, name="treatment")


def _random_dag(names: list[str], rng: np.random.Generator, p_edge: float, max_parents: int) -> list[tuple[str, str]]:
    """A random DAG over ``names`` in their order: each node takes each earlier node as a
    parent with probability ``p_edge``, at most ``max_parents`` of them."""
    edges = []
    for j, child in enumerate(names):
        parents = [names[i] for i in range(j) if rng.random() < p_edge]
        if len(parents) > max_parents:
            parents = sorted(rng.choice(parents, size=max_parents, replace=False).tolist(), key=names.index)
        edges += [(p, child) for p in parents]
    return edges


def _mlp_mechanism(parents: tuple[str, ...], rng: np.random.Generator, hidden: int = 8, noise: float = 0.5) -> Mechanism:
    """``x = w2 · tanh(W1 · parents + b1) + noise·u``, weights drawn once from ``rng``."""
    if not parents:
        return additive(lambda pa: 0.0, normal())
    w1 = rng.normal(0.0, 1.5 / np.sqrt(len(parents)), (hidden, len(parents)))
    b1 = rng.normal(0.0, 0.5, hidden)
    w2 = rng.normal(0.0, 2.0 / np.sqrt(hidden), hidden)

    def f(pa: dict) -> np.ndarray:
        x = np.stack([np.asarray(pa[p], dtype=np.float64) for p in parents], axis=1)
        return np.tanh(x @ w1.T + b1) @ w2

    return additive(f, normal(noise))


def random_mlp(n_nodes: int, seed: int) -> SCM:
    """A random DAG on ``n_nodes`` nodes (at most 3 parents each) whose every non-root node is
    a random one-hidden-layer tanh network of its parents plus Gaussian noise (sd 0.5); the
    graph and weights are fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    names = [f"m{i}" for i in range(1, n_nodes + 1)]
    graph = CausalGraph(names, _random_dag(names, rng, 2.0 / n_nodes * 1.5, 3))
    return SCM(graph, {n: _mlp_mechanism(graph.parents(n), rng) for n in graph.nodes}, name=f"mlp-{n_nodes}")


def _random_discrete(n_nodes: int, seed: int) -> SCM:
    rng = np.random.default_rng(seed)
    names = [f"d{i}" for i in range(1, n_nodes + 1)]
    graph = CausalGraph(names, _random_dag(names, rng, 2.0 / n_nodes * 1.5, 3))
    states = {n: int(rng.integers(2, 4)) for n in names}
    mechanisms = {}
    for n in graph.nodes:
        parents = graph.parents(n)
        shape = tuple(states[p] for p in parents)
        table = rng.dirichlet(np.full(states[n], 0.7), size=shape or None)

        def probs(pa: dict, table: np.ndarray = table, parents: tuple[str, ...] = parents) -> np.ndarray:
            if not parents:
                return table[None, :]
            return table[tuple(np.asarray(pa[p], dtype=np.int64) for p in parents)]

        mechanisms[n] = categorical(probs)
    return SCM(graph.with_kinds({n: "categorical" for n in names}), mechanisms,
               categories={n: tuple(range(states[n])) for n in names}, name=f"discrete-{n_nodes}")


def intervened_nodes(scm: SCM, k: int) -> tuple[str, ...]:
    """The first ``k`` nodes (in canonical order) that have children: where the protocol intervenes."""
    return tuple(n for n in scm.graph.nodes if scm.graph.children(n))[:k]


def _random_equations(scm: SCM, what: str) -> str:
    """The equations of a randomly drawn SCM, as text: one line per node."""
    lines = []
    for n in scm.graph.nodes:
        pa = ", ".join(scm.graph.parents(n))
        lines.append(f"{n} = {what.format(pa=pa)}" if pa else f"{n} = {'u' if 'MLP' in what else 'Categorical(p), p ~ Dirichlet(0.7)'}")
    return "\n".join(lines)


def _loan() -> SCM:
    def edu_in(pa):
        return -1 + 0.5 * pa["A"] + sigmoid(0.1 * pa["age"])

    return SCM(
        _g("A -> edu; A -> amount; A -> duration; A -> income; age -> edu; age -> amount; age -> duration; "
           "age -> income; amount -> duration; edu -> income; income -> savings").with_kinds({"A": "binary"}),
        {
            "A": bernoulli(0.5),
            "age": additive(lambda pa: -35.0, lambda rng, n: rng.gamma(10.0, 3.5, n)),
            "edu": Mechanism(
                normal(0.5),
                lambda pa, u: -0.5 + sigmoid(edu_in(pa) + u),
                lambda pa, x, rng: logit(x + 0.5) - edu_in(pa),
            ),
            "amount": additive(lambda pa: 1 + 0.01 * (pa["age"] - 5) * (5 - pa["age"]) + pa["A"], normal(2.0)),
            "duration": additive(lambda pa: -1 + 0.1 * pa["age"] + 2 * pa["A"] + pa["amount"], normal(3.0)),
            "income": additive(lambda pa: -4 + 0.1 * (pa["age"] + 35) + 2 * pa["A"] + pa["A"] * pa["edu"], normal(2.0)),
            "savings": additive(lambda pa: -4 + 1.5 * (pa["income"] > 0) * pa["income"], normal(5.0)),
        },
        categories={"A": (0, 1)},
        name="loan",
    )


# Pendulum (after CausalVAE): angles in degrees.
PIVOT = (10.0, 10.5)
ROD = 9.5
GROUND_Y = -0.5


def pendulum_shadow(theta_deg: np.ndarray, phi_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free shadow (position, length) of the pendulum for the given angles."""
    th, ph = np.deg2rad(theta_deg), np.deg2rad(phi_deg)
    cot = 1.0 / np.tan(ph)
    tip_x, tip_y = PIVOT[0] + ROD * np.sin(th), PIVOT[1] - ROD * np.cos(th)

    def proj(x, y):
        return x + (GROUND_Y - y) * cot

    a, b = proj(PIVOT[0], PIVOT[1]), proj(tip_x, tip_y)
    return (a + b) / 2, np.maximum(3.0, np.abs(a - b))


def _pendulum() -> SCM:
    return SCM(
        _g("pendulum_angle -> shadow_position; light_angle -> shadow_position; "
           "pendulum_angle -> shadow_length; light_angle -> shadow_length"),
        {
            "pendulum_angle": additive(lambda pa: -36.0, lambda rng, n: 74.7 * rng.random(n)),
            "light_angle": additive(lambda pa: 54.0, lambda rng, n: 78.3 * rng.random(n)),
            "shadow_position": additive(lambda pa: pendulum_shadow(pa["pendulum_angle"], pa["light_angle"])[0], normal(0.1)),
            "shadow_length": additive(lambda pa: pendulum_shadow(pa["pendulum_angle"], pa["light_angle"])[1], normal(0.1)),
        },
        name="pendulum",
    )


_REGISTRY: dict[str, DatasetInfo] = {}


def _register(name: str, build: Callable[[], SCM], intervene_on: tuple[str, ...], description: str,
              equations: str) -> None:
    _REGISTRY[name] = DatasetInfo(name, description, build().graph, intervene_on, build, equations)


_register("triangle-lin", _triangle_lin, ("x1", "x2"),
          "Three variables in a triangle, all linear: x1 causes x2 (strongly, x2 = 10·x1 − u2) and both cause x3. "
          "Conditioning on x2 moves x1; intervening on x2 leaves x1 alone.",
          "x1 = u1 + 1\nx2 = 10·x1 − u2\nx3 = 0.5·x2 + x1 + u3")
_register("triangle-nlin", _triangle_nlin, ("x1", "x2"),
          "The triangle with nonlinear mechanisms: x2 = 2·x1² + u2, and x3 a saturating function of x2² − x1.",
          "x1 = u1\nx2 = 2·x1² + u2\nx3 = 20 / (1 + exp(−x2² + x1)) + u3")
_register("chain5-lin", _chain5_lin, ("x1", "x2", "x3"),
          "A five-step linear chain x1 → x2 → x3 → x4 → x5; effects propagate down the chain only.",
          "x1 = u1\nx2 = 10·x1 − u2\nx3 = 0.25·x2 + 2·u3\nx4 = x3 + u4\nx5 = −x4 + u5")
_register("fork-nlin", _fork_nlin, ("x2", "x3"),
          "Two independent causes x1, x2 meet in x3 (a collider), which drives x4 nonlinearly.",
          "x1 = u1\nx2 = u2\nx3 = 4 / (1 + exp(−x1 − x2)) − x2² + u3/2\nx4 = 20 / (1 + exp(x3²/2 − x3)) + u4")
_register("simpson-nlin", _simpson_nlin, ("x1", "x2", "x3"),
          "A nonlinear Simpson's paradox: x1 confounds x2 → x3, so the observed trend of x3 on x2 has the wrong sign.",
          "x1 = u1\nx2 = s(1 − x1) + √(3/20)·u2\nx3 = tanh(2·x2) + 1.5·x1 − 1 + tanh(u3)\nx4 = (x3 − 4)/5 + 3 + u4/√10")
_register("simpson-symprod", _simpson_symprod, ("x1", "x2", "x3"),
          "A confounded product: x3 = 0.5·x1·x2 + noise, with x1 driving both x2 and x4.",
          "x1 = u1\nx2 = 2·tanh(2·x1) + u2/√10\nx3 = 0.5·x1·x2 + u3/√2\nx4 = tanh(1.5·x1) + √(3/10)·u4")
_register("large-backdoor", _large_backdoor, ("x1", "x2", "x3", "x5"),
          "Nine variables with a long back-door path from x1 to x9 through two branches; uniform and Laplace noise.",
          "u ~ Uniform(0, 1);  L(a, b) = s(a + 1) + s(0.5 + b) − 3\n"
          "x1 = s(1.8·u1) − 1\nx2 = 0.25·u2 + 1.5·L(x1, 0)\nx3 = L(x1, u3)\nx4 = L(x2, u4)\nx5 = L(x3, u5)\n"
          "x6 = L(x4, u6)\nx7 = L(x5, u7)\nx8 = 0.3·u8 + s(x6 + 1) − 1\n"
          "x9 = Laplace quantile of u9, location −s((1.3·x7 + x8)/3 + 1) + 2, scale 0.6")
_register("loan", _loan, ("A", "income"),
          "A synthetic loan application: a binary sensitive attribute A and age drive education, amount, duration "
          "and income; income drives savings. The standard example of an unfair causal path A → income.",
          "A = Bernoulli(0.5)\nage = −35 + Gamma(shape 10, scale 3.5)\n"
          "edu = −0.5 + σ(−1 + 0.5·A + σ(0.1·age) + N(0, 0.5²))\n"
          "amount = 1 + 0.01·(age − 5)·(5 − age) + A + N(0, 2²)\n"
          "duration = −1 + 0.1·age + 2·A + amount + N(0, 3²)\n"
          "income = −4 + 0.1·(age + 35) + 2·A + A·edu + N(0, 2²)\n"
          "savings = −4 + 1.5·1[income > 0]·income + N(0, 5²)")
_register("hetero-nlin", _hetero_nlin, ("x1", "x3", "x5"),
          "Six variables whose noise scales with their parents in three places (x3, x4, x6): x = g(parents) + "
          "s(parents)·u, where an additive-noise model is wrong about every counterfactual.",
          "x1 = u1\nx2 = u2\nx3 = sin(x1) + 0.5·x2 + (0.2 + s(x1))·u3\nx4 = 0.25·x3² − x1 + (0.3 + 0.5·|x3|)·u4\n"
          "x5 = tanh(x3) + x2/3 + 0.5·u5\nx6 = x5 − 0.3·x4 + 0.5·s(x5)·u6")
_register("treatment", _treatment, ("T", "M"),
          "A binary treatment T, confounded by x, acting on an outcome Y directly and through a mediator M; the "
          "effect of T on Y depends on x.",
          "x = u_x\nT = Bernoulli(σ(1.5·x))\nM = 0.8·T + 0.5·x + 0.5·u_M\nY = sin(x) + T + 0.8·M + 0.3·T·x + 0.5·u_Y")
_register("mlp-12", lambda: random_mlp(12, 12), intervened_nodes(random_mlp(12, 12), 4),
          "Twelve variables on a random graph (seed 12), each a random one-hidden-layer MLP of its parents "
          "(8 tanh units) plus noise: nonlinear mechanisms no family of the models matches.",
          _random_equations(random_mlp(12, 12), "w2·tanh(W1·({pa}) + b1) + 0.5·u, random weights (seed 12)"))
_register("discrete-12", lambda: _random_discrete(12, 13), intervened_nodes(_random_discrete(12, 13), 3),
          "Twelve discrete variables (2 or 3 states) on a random graph (seed 13), each with a random "
          "conditional probability table: a discrete Bayesian network whose interventional answers are exact.",
          _random_equations(_random_discrete(12, 13), "Categorical(p({pa})), p ~ Dirichlet(0.7) per configuration"))
_register("discrete-20", lambda: _random_discrete(20, 20), intervened_nodes(_random_discrete(20, 20), 3),
          "Twenty discrete variables (2 or 3 states) on a random graph (seed 20), each with a random "
          "conditional probability table.",
          _random_equations(_random_discrete(20, 20), "Categorical(p({pa})), p ~ Dirichlet(0.7) per configuration"))
_register("pendulum", _pendulum, ("pendulum_angle", "light_angle"),
          "The pendulum's four factors (after CausalVAE): the pendulum and light angles, independent, cause the "
          "shadow's position and length. Angles in degrees.",
          "pendulum_angle = Uniform(−36°, 38.7°)\nlight_angle = Uniform(54°, 132.3°)\n"
          "proj(x, y) = x + (−0.5 − y)·cot(light_angle); pivot (10, 10.5); tip (10 + 9.5·sin θ, 10.5 − 9.5·cos θ)\n"
          "shadow_position = midpoint of proj(pivot) and proj(tip) + 0.1·u_m\n"
          "shadow_length = max(3, |proj(pivot) − proj(tip)|) + 0.1·u_s")


def names() -> list[str]:
    """Names of the built-in datasets."""
    return list(_REGISTRY)


def info(name: str) -> DatasetInfo:
    """Description, graph and protocol of a built-in dataset (no data drawn)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset '{name}'; the built-in datasets are {', '.join(_REGISTRY)}") from None


def load(name: str, n: int = 5000, seed: int | None = 0) -> Dataset:
    """``n`` rows drawn from a built-in SCM, with its graph and the SCM itself."""
    meta = info(name)
    scm = meta.build()
    data = scm.sample(n, seed=seed)
    return Dataset(name, meta.description, data, scm.graph, scm, meta.intervene_on)
