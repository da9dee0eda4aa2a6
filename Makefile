# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Both create .venv when it is missing: torch is installed first with an exact pin
# (a CPU build on these machines; an unpinned torch pulls GBs of CUDA), then the
# project in editable mode with its test extras.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.counterfactory-installed
PORT   ?= 8501

.PHONY: run test test-fast screenshots bench bench-tabular bench-images bench-app bench-inverse bench-speed bench-debias bench-hypotheses bench-ambient bench-defense bench-morpho-scm venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run app/main.py --server.address 127.0.0.1 --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not browser"

# the README's pictures (assets/*.png) from the browser test of the workbench, with its other
# screenshots and timings kept in tests/artifacts/; a plain `make test` writes to a temporary folder
screenshots: $(STAMP)
	COUNTERFACTORY_SCREENSHOTS=$(CURDIR)/assets COUNTERFACTORY_ARTIFACTS=$(CURDIR)/tests/artifacts \
		COUNTERFACTORY_REQUIRE_BROWSER=1 $(PY) -m pytest -q tests/test_browser.py -k "workbench"

# every benchmark, each rewriting its own section of docs/benchmarks.md (several hours on 2 cores, roughly 5 h
# when idle; each bench-* target also runs alone)
bench: bench-tabular bench-images bench-app bench-inverse bench-speed bench-debias bench-hypotheses bench-ambient bench-defense bench-morpho-scm

bench-tabular: $(STAMP)
	$(PY) bench/run.py --out docs/benchmarks.md
	$(PY) bench/references.py --out docs/benchmarks.md
	$(PY) bench/discrete.py --out docs/benchmarks.md
	$(PY) bench/discovery.py --out docs/benchmarks.md
	$(PY) bench/graph_checks.py --out docs/benchmarks.md
	$(PY) bench/random_mlp.py --out docs/benchmarks.md

bench-images: $(STAMP)
	$(PY) bench/ccgm.py --out docs/benchmarks.md
	$(PY) bench/causal_gan.py --out docs/benchmarks.md
	$(PY) bench/causal_gan_pendulum.py --out docs/benchmarks.md

# CCGM and CausalGAN on real digits: Deep SCM's Morpho-MNIST, read back by a CNN trained on other digits
# (one model per process, then merged; skipped when ../shared/data/morphomnist is absent)
bench-morpho-scm: $(STAMP)
	$(PY) bench/morpho_scm.py --only ccgm --json bench/results/morpho_scm_ccgm.json
	$(PY) bench/morpho_scm.py --only causal-gan --json bench/results/morpho_scm_causal_gan.json
	test ! -f bench/results/morpho_scm_ccgm.json || $(PY) bench/morpho_scm.py --merge bench/results/morpho_scm_ccgm.json \
		bench/results/morpho_scm_causal_gan.json --out docs/benchmarks.md

# de-biasing: known truth, DECAF's protocol on Adult (when ../shared/data/adult is there), time
bench-debias: $(STAMP)
	$(PY) bench/debias.py --out docs/benchmarks.md

bench-app: $(STAMP)
	$(PY) bench/app.py --out docs/benchmarks.md

# hypothesis testing by generalization error: random SCMs, cause-effect pairs, interventions, Sachs (about 1 h)
bench-hypotheses: $(STAMP)
	$(PY) bench/hypotheses.py --out docs/benchmarks.md

# fit time beside dowhy.gcm, in an environment of its own (dowhy pins other numpy/scipy versions)
DOWHY_VENV ?= .venv-dowhy
$(DOWHY_VENV)/.installed:
	test -x $(DOWHY_VENV)/bin/python || $(PYTHON) -m venv $(DOWHY_VENV)
	$(DOWHY_VENV)/bin/python -m pip install -q --upgrade pip
	$(DOWHY_VENV)/bin/python -m pip install -q dowhy==0.14
	touch $@

bench-speed: $(STAMP) $(DOWHY_VENV)/.installed
	$(PY) bench/speed.py --dowhy-python $(DOWHY_VENV)/bin/python --out docs/benchmarks.md

# inverse problems: generator prior (CSGM), Deep Image Prior (plain, learned regularization), Lasso-DCT / wavelets (trains one CCGM per dataset first)
bench-inverse: $(STAMP)
	$(PY) bench/inverse.py --out docs/benchmarks.md

# AmbientGAN on 90%-dropout faces beside a GAN on the lossy, the inpainted and the clean images (about 50 min),
# then on the Morpho-MNIST digits (about 20 min; skipped when ../shared/data/morphomnist is absent)
bench-ambient: $(STAMP)
	$(PY) bench/ambient.py --out docs/benchmarks.md
	$(PY) bench/ambient.py --dataset morpho-mnist --out docs/benchmarks.md

# the robust manifold defense: PGD, projection onto the CCGM's range, BPDA (reuses bench-inverse's generators;
# about 35 min on the loaded 2-core host, the two datasets in turn here)
bench-defense: $(STAMP)
	$(PY) bench/defense.py --datasets morpho-mnist --results /tmp/cf-defense.json
	$(PY) bench/defense.py --datasets morpho-glyphs --bpda-steps 10 --projection 4 100 --attack-projection 2 60 \
		--results /tmp/cf-defense-glyphs.json
	$(PY) bench/defense.py --markdown-only --results /tmp/cf-defense.json --merge /tmp/cf-defense-glyphs.json \
		--out docs/benchmarks.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
