"""The argument parser of every command, and ``main``: one line ``error: <message>`` and exit
code 2 for bad input, never a traceback."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import textwrap
from typing import Any

from app.cli.common import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, PROG, _one_line, _positive_int
from app.cli.debias import cmd_debias
from app.cli.defense import cmd_defend
from app.cli.hypotheses import cmd_hypotheses
from app.cli.info import FORMATS, cmd_datasets, cmd_graph, cmd_settings, cmd_suggest
from app.cli.inverse import cmd_dip_prior, cmd_recover
from app.cli.query import cmd_counterfactual, cmd_sample
from app.cli.runs import cmd_runs
from app.cli.train import cmd_train


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors, like every other error of the CLI."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_ERROR, f"error: {message}; see '{self.prog} --help'\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:
        return "unknown (not installed)"


DO_HELP = (
    "NODE=VALUE, repeatable: a number sets the node (x2=1.5, x2=-1), x2+1 or +1 shifts it, "
    "x2*2 scales it (soft interventions keep its parents), a label sets a category (sex=Female)"
)


def _para(text: str) -> str:
    return textwrap.fill(text, 88)


def _image_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", metavar="FILE.png", help="image models: save the images as one PNG grid")
    p.add_argument("--columns", type=_positive_int, default=8, help="images per row of --grid (default 8)")
    p.add_argument("--images-dir", metavar="DIR", help="image models: save each image as a PNG, with labels.csv")


def _missing_options(p: argparse.ArgumentParser, table: str = "--data") -> None:
    """--drop-missing and --missing-marker, for the commands that read a table (``table``: how
    their help names it)."""
    p.add_argument("--drop-missing", action="store_true",
                   help=f"{table}: leave out the rows with a missing value in a column the command uses (the graph's, "
                   "the candidates' or the searched ones), and say how many (default: such a table is refused, "
                   "naming the column)")
    p.add_argument("--missing-marker", action="append", metavar="TEXT",
                   help=f"{table}: a cell holding only TEXT is a missing value, repeatable (e.g. --missing-marker '?' "
                   "for UCI tables); empty cells, NA and NaN always are")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG,
        formatter_class=fmt,
        description=_para("Counterfactory: train generative models that obey a causal graph, "
        "then sample them observationally, conditionally (given), under interventions (do) "
        "and counterfactually."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} datasets                                   # the built-in datasets
              {PROG} datasets triangle-lin -n 2000 -o tri.csv
              {PROG} train --dataset triangle-lin --out runs/tri
              {PROG} sample runs/tri -n 1000 --do x2=1.5 -o do.csv
              {PROG} counterfactual runs/tri --rows tri.csv --do x1=0 -o cf.csv
              {PROG} graph "x1 -> x2; x1 -> x3; x2 -> x3" --to dot

            Run '{PROG} COMMAND --help' for each command's options."""),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    ws = argparse.ArgumentParser(add_help=False)
    ws.add_argument("--workspace", metavar="DIR", default=None,
                    help="the workspace folder shared with the app (default $COUNTERFACTORY_WORKSPACE, else "
                         "counterfactory/workspace in your user data folder, e.g. ~/.local/share)")

    p = sub.add_parser(
        "datasets",
        formatter_class=fmt,
        help="list the built-in datasets, or draw one as CSV",
        description=_para("Without NAME: list the built-in datasets (data drawn from known causal models). "
        "With NAME: print its description and graph, and write ROWS rows as CSV "
        "(to -o FILE, or to stdout; the description then goes to stderr so stdout stays a clean CSV)."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} datasets
              {PROG} datasets loan -n 500 -o loan.csv
              {PROG} datasets triangle-lin -n 5 --seed 1"""),
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a built-in dataset (see the list)")
    p.add_argument("-n", "--rows", type=_positive_int, default=1000, help="rows to draw (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same rows (default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout")
    p.set_defaults(run=cmd_datasets)

    p = sub.add_parser(
        "train",
        parents=[ws],
        formatter_class=fmt,
        help="train a causal generative model and save it",
        description=_para("Train a model whose mechanisms follow the causal graph, on a built-in dataset "
        "(--dataset; the graph defaults to its true graph) or on your CSV (--data; one column per "
        "graph node, and a graph is required); an image model on a built-in image dataset (--images) or on your "
        "images (--image-folder, with a labels CSV and a graph that has the node 'image'). Progress goes to stderr, a summary to stdout, and "
        "the model to --out DIR (the best model so far is saved there during training too)."),
        epilog=textwrap.dedent(f"""\
            settings (--set key=value) are the fields of the model's config and of its training
            config; '{PROG} settings KIND' lists them with their defaults.

            examples:
              {PROG} train --dataset triangle-lin -n 5000 --out runs/tri
              {PROG} train --data mydata.csv --graph "age -> income; edu -> income" --out runs/mine
              {PROG} train --data mydata.csv --graph-file graph.dot --drop-extra --out runs/mine
              {PROG} train --dataset loan --model causal-vgen --set max_epochs=50 --set hidden=32 --out runs/loan
              {PROG} train --dataset loan --preset fast --out runs/quick    # a quarter of the steps, half the width
              {PROG} train --dataset loan --workspace-run --name "loan, default"   # a run the app lists
              {PROG} train --images faces --model causal-gan --out runs/faces          # minutes on a CPU
              {PROG} train --images faces --lossy dropout:0.9 --model causal-gan --set ambient=dropout:0.9 \\
                  --out runs/ambient     # AmbientGAN on lossy images
              {PROG} train --image-folder faces.zip --graph "Male -> Mustache; Male -> image; Mustache -> image" \\
                  --model ccgm --size 32 --out runs/mine     # your images + labels.csv"""),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset", metavar="NAME", help="train on a built-in dataset (see 'datasets')")
    src.add_argument("--data", metavar="FILE.csv", help="train on a CSV file with one column per graph node")
    src.add_argument("--images", metavar="NAME", help="train an image model on a built-in image dataset "
                     "(pendulum, faces, morpho-glyphs; see 'datasets')")
    src.add_argument("--image-folder", metavar="PATH", help="train an image model on your images: a folder or "
                     ".zip of PNG/JPEG files with a labels CSV (one row per image; see --labels); needs --graph "
                     "with the node 'image'")
    p.add_argument("--size", type=_positive_int, choices=(28, 32, 64), metavar="PX",
                   help="--images: image size in pixels (32 default, or 64); --image-folder: resize to it")
    p.add_argument("--lossy", metavar="SPEC", help="--images: see each image only through a random measurement, "
                   "a fresh draw per image (dropout:0.9, blur:1+noise:0.1); train AmbientGAN on it with "
                   "--model causal-gan --set ambient=SPEC")
    p.add_argument("--labels", metavar="FILE.csv", help="--image-folder: the labels CSV, a path or a file name "
                   "inside the folder/zip (default: its labels.csv)")
    p.add_argument("--image-column", default="file", metavar="NAME",
                   help="--image-folder: the labels CSV's column naming each image file (default 'file')")
    p.add_argument("-n", "--rows", type=_positive_int, help="rows to draw from --dataset (default 5000)")
    gr = p.add_mutually_exclusive_group()
    gr.add_argument("--graph", metavar="TEXT", help="the causal graph as text: 'a -> b; b -> c', DAGitty, DOT or JSON")
    gr.add_argument("--graph-file", metavar="FILE", help="a file holding the graph (DAGitty, DOT, JSON or 'a -> b' text)")
    p.add_argument("--model", default="causal-gen", metavar="KIND",
                   help=f"model kind (default causal-gen); '{PROG} settings' lists the kinds, for tables and for images")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a model or training setting, repeatable (e.g. --set max_epochs=50 --set hidden=32)")
    p.add_argument("--preset", metavar="NAME", help="a named set of settings applied before --set: 'fast' for "
                   "causal-gen (steps=1000, hidden=32: about dowhy.gcm's fit time, a larger counterfactual error "
                   "where a node needs its network; docs/benchmarks.md)")
    p.add_argument("--drop-extra", action="store_true", help="ignore CSV columns that are not graph nodes (default: error)")
    _missing_options(p)
    p.add_argument("--seed", type=int, default=0, help="random seed for data drawing and training (default 0)")
    dest = p.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", metavar="DIR", help="folder to save the model in (model.json + model.safetensors)")
    dest.add_argument("--workspace-run", action="store_true",
                      help="register a run in the workspace and train it here: the app shows it, 'runs' lists it, "
                      "and 'sample run:ID' uses it")
    p.add_argument("--name", metavar="TEXT", help="the workspace run's name (default: 'KIND on DATA')")
    p.add_argument("--overwrite", action="store_true", help="replace a model already saved in DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser(
        "sample",
        parents=[ws],
        formatter_class=fmt,
        help="draw samples from a trained model: observational, do(...) or given ...",
        description=_para("Draw N rows from a saved model. --do intervenes (cuts the node from its parents); "
        "--given conditions (keeps only samples where the event holds, by rejection; the acceptance "
        "rate goes to stderr). Both together sample P(. | given, do). CSV to -o FILE or stdout."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} sample runs/tri -n 1000 -o obs.csv
              {PROG} sample runs/tri --do x2=1.5                  # set x2 to 1.5
              {PROG} sample runs/tri --do x2=x2+1                 # shift x2 by 1
              {PROG} sample runs/tri --given x2=1.5               # x2 within 0.05 sd of 1.5
              {PROG} sample runs/tri --given x2=0:2 --given x1=0:  # ranges; open ends allowed
              {PROG} sample runs/loan --do A=1 -o treated.csv
              {PROG} sample runs/faces -n 32 --do Mustache=1 --grid do.png     # an image model
              {PROG} sample runs/faces -n 32 --given Mustache=1 --grid given.png"""),
    )
    p.add_argument("model_dir", metavar="MODEL", help="a folder written by 'train', or run:ID (a workspace run)")
    p.add_argument("-n", "--rows", type=_positive_int, default=1000, help="rows to draw (default 1000)")
    p.add_argument("--do", action="append", metavar="NODE=VALUE", help=DO_HELP)
    p.add_argument("--given", action="append", metavar="NODE=VALUE",
                   help="NODE=VALUE or NODE=LOW:HIGH, repeatable: condition on a value (continuous: within "
                   "0.05 sd), a category label, or a range")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same rows (default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout (image models: the labels)")
    _image_outputs(p)
    p.set_defaults(run=cmd_sample)

    p = sub.add_parser(
        "counterfactual",
        parents=[ws],
        formatter_class=fmt,
        help="what each row would have been under do(...)",
        description=_para("For each row of --rows (a CSV with one column per node; other columns are kept), "
        "infer its noise (abduction), apply the intervention (action) and recompute the affected "
        "nodes (prediction). Nodes the intervention cannot reach keep their values exactly."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} counterfactual runs/tri --rows tri.csv --do x1=0 -o cf.csv
              {PROG} counterfactual runs/loan --rows people.csv --do A=0 --do age=x+5
              {PROG} counterfactual runs/faces --images-from photos/ --do Male=0 --images-dir cf/"""),
    )
    p.add_argument("model_dir", metavar="MODEL", help="a folder written by 'train', or run:ID (a workspace run)")
    p.add_argument("--rows", metavar="FILE.csv", help="the factual rows (image models: the labels CSV of --images-from)")
    p.add_argument("--images-from", metavar="FOLDER", help="image models: a folder or .zip of images with a labels CSV "
                   "(a 'file' column naming each image; labels.csv inside by default)")
    p.add_argument("--image-column", default="file", metavar="NAME", help="the labels CSV's column naming each image")
    p.add_argument("--do", action="append", required=True, metavar="NODE=VALUE", help=DO_HELP)
    p.add_argument("--seed", type=int, default=0, help="random seed (discrete nodes' noise is sampled; default 0)")
    p.add_argument("-o", "--out", metavar="FILE", help="write the CSV here instead of stdout (image models: the labels)")
    _image_outputs(p)
    p.set_defaults(run=cmd_counterfactual)

    p = sub.add_parser(
        "debias",
        parents=[ws],
        formatter_class=fmt,
        help="cut causal edges of a trained model and generate a de-biased dataset, with its bias report",
        description=_para("Remove edges from a trained model (each cut edge's child sees an independent draw of "
        "the parent, or the --reference value; nothing is retrained) and write N de-biased rows (-o .csv or "
        ".parquet; an image model's images and labels as -o .zip), or, with --rows, each real row as it would have "
        "been without the edges. --report writes the bias report before and after (dependence on the sensitive "
        "attribute, demographic parity, a classifier trained on the data and tested on --data rows, fidelity); "
        "--manifest writes the provenance, and 'debias --manifest M.json -o FILE' reproduces the dataset byte "
        "for byte."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} debias runs/loan --cut "A -> income" -n 10000 -o fair.csv --manifest fair.json --report report.json
              {PROG} debias runs/loan --cut "A -> income" --cut "A -> edu" --reference A=0 -n 5000 -o fair.parquet
              {PROG} debias runs/loan --cut "A -> *" --target income -n 10000 -o parity.csv   # every path A to income
              {PROG} debias runs/adult --variant counterfactual --sensitive sex --target income --mark marital \\
                  -n 30000 -o cf.csv --data adult.csv --report cf.json
              {PROG} debias --manifest fair.json -o again.csv       # the same rows, byte for byte
              {PROG} debias runs/loan --cut "A -> income" --rows people.csv -o per_row.csv  # real rows, de-biased"""),
    )
    p.add_argument("model_dir", nargs="?", metavar="MODEL", help="a folder written by 'train', or run:ID (a workspace "
                   "run); leave out to reproduce --manifest")
    p.add_argument("--cut", action="append", metavar="'A -> Y'", help="an edge to remove, repeatable; 'A -> *' cuts every "
                   "path from A to --target")
    p.add_argument("--reference", action="append", metavar="A=VALUE", help="the fixed value a cut parent's edges carry "
                   "(default: an independent draw of the parent)")
    p.add_argument("--variant", choices=("unaware", "counterfactual", "parity"), help="a fairness variant with "
                   "--sensitive and --target: unaware cuts A -> Y; counterfactual also the edges into Y from the --mark "
                   "nodes; parity every path from A to Y")
    p.add_argument("--sensitive", metavar="A", help="the sensitive attribute (of --variant and of the report)")
    p.add_argument("--target", metavar="Y", help="the target (of 'A -> *', --variant and the report)")
    p.add_argument("--mark", action="append", metavar="NODE", help="--variant counterfactual: a descendant of A whose "
                   "edge into the target is cut too, repeatable")
    p.add_argument("-n", "--rows-n", dest="rows_n", type=_positive_int, metavar="ROWS", help="rows (images) to generate")
    p.add_argument("--rows", metavar="FILE.csv", help="de-bias these real rows counterfactually instead (abduction "
                   "from each row, then the edited model)")
    p.add_argument("--data", metavar="FILE.csv", help="real rows for the report (fidelity to real data, and the "
                   "classifier's test rows: use rows the model was not trained on) and the manifest's fingerprint")
    _missing_options(p)
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same rows (default 0)")
    p.add_argument("-o", "--out", metavar="OUT", help="the dataset: .csv, .parquet, or .zip for an image model")
    p.add_argument("--manifest", metavar="M.json", help="with MODEL: write the provenance here; without: reproduce it")
    p.add_argument("--report", metavar="REPORT.json", help="write the bias report (before and after) here")
    p.set_defaults(run=cmd_debias)

    p = sub.add_parser(
        "graph",
        formatter_class=fmt,
        help="validate and convert a causal graph; its independences and equivalence class",
        description=_para("Read a graph (text or a file; DAGitty, DOT, JSON or 'a -> b; b -> c'), check it "
        "is a DAG, print it in --to format and its canonical node order (the column order of every "
        "table and model)."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} graph "x1 -> x2 -> x3; x1 -> x3"
              {PROG} graph model.dagitty --to dot -o model.dot
              {PROG} graph "a -> b; c -> b; b -> d" --implications --mec
              {PROG} graph model.dagitty --data data.csv    # does the table contradict the graph?"""),
    )
    p.add_argument("graph", metavar="TEXT_OR_FILE", help="graph text, or a file holding it")
    p.add_argument("--to", choices=FORMATS, default="text", help="output format (default text: 'a -> b; ...')")
    p.add_argument("-o", "--out", metavar="FILE", help="write the converted graph here instead of stdout")
    p.add_argument("--implications", action="store_true",
                   help="list the conditional independences the graph implies (testable against data)")
    p.add_argument("--mec", action="store_true",
                   help="show the Markov equivalence class: the graphs no observational data can tell apart")
    p.add_argument("--data", metavar="FILE.csv", help="test the implied independences on this table (Holm-adjusted; "
                   "a rejection of practical strength says an arrow is probably missing); exit status 3 when the "
                   "data contradict the graph")
    p.add_argument("--alpha", type=float, default=0.05, help="--data: the tests' level after Holm's correction (default 0.05)")
    p.add_argument("--linear", action="store_true", help="--data: adjust for conditioning columns linearly instead of "
                   "by splines (faster; assumes linear mechanisms, so nonlinear ones look like missing arrows)")
    p.add_argument("--csv", metavar="FILE", help="--data: write every test (independence, p, Holm p, strength, method) here")
    _missing_options(p)
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser(
        "suggest",
        formatter_class=fmt,
        help="a causal graph suggested by a table (PC): a starting point to draw from, with what the data cannot orient",
        description=_para("Search the table's conditional independences with the PC algorithm (pgmpy's, on this "
        "project's tests: a partial correlation for continuous and binary columns, within the strata of discrete "
        "conditioning columns and with its interactions with the continuous ones; a G-test where a tested column is "
        "categorical) and print the Markov "
        "equivalence class found: the arrows the data orient, and '--' for adjacencies either direction fits. It "
        "assumes no hidden common cause of two columns and that no dependence cancels out; a suggestion to start "
        "drawing from, not a finding."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} suggest data.csv
              {PROG} suggest adult.csv --columns age sex education income --missing-marker '?' --drop-missing
              {PROG} suggest data.csv --min-strength 0.1 --to dagitty -o start.dagitty --json suggestion.json"""),
    )
    p.add_argument("data", metavar="FILE.csv", help="the table")
    p.add_argument("--columns", nargs="+", metavar="NAME", help="the columns to search (default: all)")
    p.add_argument("--alpha", type=float, default=0.01, help="the tests' level (default 0.01)")
    p.add_argument("--min-strength", type=float, default=0.0, help="a dependence weaker than this (|partial "
                   "correlation| or its analogue) counts as absent, however significant (default 0: significance alone, "
                   "PC as defined; e.g. 0.1 on a large real table with many tiny dependences)")
    p.add_argument("--max-cond", type=int, default=3, help="the largest conditioning set tried (default 3)")
    p.add_argument("--linear", action="store_true", help="adjust for conditioning columns linearly instead of by "
                   "splines (faster; assumes linear mechanisms)")
    p.add_argument("--to", choices=FORMATS, default="text", help="format of the graph written with -o (default text)")
    p.add_argument("-o", "--out", metavar="FILE", help="write one graph of the class here")
    p.add_argument("--json", metavar="FILE", help="write the suggestion (class, graph, settings, tests) as JSON")
    _missing_options(p, table="the table")
    p.set_defaults(run=cmd_suggest)

    p = sub.add_parser(
        "settings",
        formatter_class=fmt,
        help="the model kinds, or one kind's settings and their defaults (for train --set)",
        description="Without KIND: the model kinds, what each is and what it trains on. With KIND: its settings "
        "and those of training, with their defaults and what each does.",
        epilog=f"examples:\n  {PROG} settings\n  {PROG} settings causal-gen\n  {PROG} settings causal-gan",
    )
    p.add_argument("kind", nargs="?", default=None, metavar="KIND", help="a model kind (see the list)")
    p.set_defaults(run=cmd_settings)

    p = sub.add_parser(
        "runs",
        parents=[ws],
        formatter_class=fmt,
        help="the workspace's training runs (the ones the app shows): list, show, cancel, delete",
        description=_para("The runs registered in the workspace by the app or by 'train --workspace-run': "
        "list them (newest first), show one in full, cancel one that is queued or training (it keeps "
        "its best weights), or delete one with its files. A run id may be shortened to a unique prefix."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} runs
              {PROG} runs list --status done
              {PROG} runs show 0k3f9
              {PROG} runs cancel 0k3f9
              {PROG} runs rebuild                 # the database is damaged: register the run folders again
              {PROG} sample run:0k3f9 -n 1000 --do x2=1.5"""),
    )
    p.add_argument("action", nargs="?", default="list", choices=("list", "show", "cancel", "delete", "rebuild"),
                   help="what to do (default list); rebuild: register again every run folder, dataset and graph "
                   "of the workspace when its database is damaged or lost (the old file is kept)")
    p.add_argument("run_id", nargs="?", metavar="ID", help="the run (show, cancel, delete)")
    p.add_argument("--status", choices=("queued", "running", "done", "failed", "cancelled"), help="list only these")
    p.set_defaults(run=cmd_runs)

    p = sub.add_parser(
        "recover",
        parents=[ws],
        formatter_class=fmt,
        help="recover an image from a few linear measurements (compressed sensing, inpainting, super-resolution, deblurring)",
        description=_para("Measure --image with a linear operator (--measure) plus Gaussian noise (--noise, a standard "
        "deviation in [0, 1] pixel units), then recover it: by a trained image model as the prior (--method "
        "generator, MODEL required: CSGM, Bora et al. 2017), by Deep Image Prior (an untrained network, early "
        "stopped on held-out measurements; --method dip-lr adds a prior on its weights learned by 'dip-prior', Van "
        "Veen et al. 2018) or by Lasso on DCT (--method lasso) or wavelet (--method lasso-wavelet: db4, "
        "periodization) coefficients (penalty by cross-validation). The "
        "recovery goes to -o as PNG; --json writes the method, the measurement, the seconds taken and the "
        "per-pixel MSE against the input image."),
        epilog=textwrap.dedent(f"""\
            measurements (--measure):
              gaussian:M       M random Gaussian projections
              mask:random:P    inpainting: a random fraction P of the pixels kept
              mask:block:K     inpainting: a K x K central block missing
              down:F           super-resolution: F x F pixel blocks averaged
              blur:SIGMA       Gaussian blur of SIGMA pixels

            examples:
              {PROG} recover runs/glyphs --image digit.png --measure gaussian:200 --method generator -o rec.png --json rec.json
              {PROG} recover --image digit.png --measure mask:random:0.5 --noise 0.01 --method dip -o dip.png
              {PROG} recover --image digit.png --measure down:4 --method lasso -o lasso.png
              {PROG} recover --image digit.png --measure gaussian:50 --method lasso-wavelet -o wav.png
              {PROG} dip-prior --dataset morpho-glyphs -n 8 -o glyph-prior
              {PROG} recover --image digit.png --measure gaussian:50 --method dip-lr --dip-prior glyph-prior -o lr.png"""),
    )
    p.add_argument("model_dir", nargs="?", default=None, metavar="MODEL",
                   help="a trained image model (a folder written by 'train', or run:ID); only for --method generator")
    p.add_argument("--image", required=True, metavar="FILE.png", help="the image to measure (the truth the MSE is against)")
    p.add_argument("--measure", required=True, metavar="SPEC", help="the measurement (see below)")
    p.add_argument("--noise", type=float, default=0.0, help="standard deviation of the additive Gaussian noise (default 0)")
    p.add_argument("--method", required=True, choices=("generator", "dip", "dip-lr", "lasso", "lasso-wavelet"),
                   help="how to recover the image")
    p.add_argument("--dip-prior", metavar="PRIOR_DIR", default=None,
                   help="with --method dip-lr: the learned prior on Deep Image Prior's weights (a folder written by 'dip-prior')")
    p.add_argument("--seed", type=int, default=0, help="random seed of the operator, the noise and the recovery (default 0)")
    p.add_argument("-o", "--out", required=True, metavar="OUT.png", help="the recovered image (PNG)")
    p.add_argument("--json", metavar="OUT.json", help="write the method, measurement, seconds and per-pixel MSE here")
    p.set_defaults(run=cmd_recover)

    p = sub.add_parser(
        "dip-prior",
        formatter_class=fmt,
        help="learn a prior on Deep Image Prior's weights from a few training images (for recover --method dip-lr)",
        description=_para("Fit Deep Image Prior to each training image (all from the same first weights), then keep per "
        "weight tensor the mean and the Ledoit-Wolf shrunk covariance of the fitted weights (Van Veen et al. 2018). "
        "The penalty's weight lambda is --lam, or chosen by leave-one-out validation on the first 3 training images "
        "measured by --val-measure. Writes prior.safetensors and prior.json into -o; a few minutes on a CPU for 8 "
        "images of 32 px."),
        epilog=textwrap.dedent(f"""\
            examples:
              {PROG} dip-prior --dataset morpho-glyphs -n 8 -o glyph-prior
              {PROG} dip-prior --images a.png b.png c.png d.png --lam 0.01 -o my-prior"""),
    )
    p.add_argument("--images", nargs="+", metavar="FILE.png", default=None, help="training images (PNG/JPEG, all one size)")
    p.add_argument("--dataset", metavar="NAME", default=None, help="or: a built-in image dataset to draw them from")
    p.add_argument("-n", type=_positive_int, default=8, help="with --dataset: how many training images (default 8)")
    p.add_argument("--size", type=_positive_int, default=32, help="with --dataset: image side in pixels (default 32)")
    p.add_argument("--steps", type=_positive_int, default=500, help="Adam steps of each training fit (default 500)")
    p.add_argument("--lam", type=float, default=None, help="the penalty's weight (default: chosen by validation)")
    p.add_argument("--val-measure", default="gaussian:50", metavar="SPEC",
                   help="the measurement lambda is validated on (default gaussian:50)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first weights, the input and --dataset's draw (default 0)")
    p.add_argument("-o", "--out", required=True, metavar="PRIOR_DIR", help="the folder to write the prior into")
    p.set_defaults(run=cmd_dip_prior)

    p = sub.add_parser(
        "defend",
        parents=[ws],
        formatter_class=fmt,
        help="a classifier under L-infinity PGD, bare and behind projection onto a generator's range, and under BPDA",
        description=_para("The robust manifold defense (Ilyas et al. 2017; Defense-GAN, Samangouei et al. 2018) and "
        "the adaptive attack that defeats it (BPDA, Athalye et al. 2018). A small CNN classifier is trained on the "
        "first --train-n images of --data (or loaded with --classifier); the next --n images are attacked by "
        "L-infinity PGD at each --eps. Reported: accuracy on clean images, under PGD, on the PGD images projected "
        "onto MODEL's range before classifying (CSGM with every pixel measured, labels free, --restarts starts in "
        "one batch), under BPDA (PGD through the projection, its backward pass the identity), under the latent-space "
        "attack (a misclassified image of MODEL's range sought near each test image, --latent-steps), and the worst "
        "case: the images that survive every attack on the defense."),
        epilog=textwrap.dedent(f"""\
            data (--data):
              morpho-glyphs        built-in glyphs; the class is the glyph drawn (0-9)
              morpho-mnist         the Morpho-MNIST folder in $COUNTERFACTORY_MORPHO_MNIST; the class is the digit
              DIR                  a Morpho-MNIST folder, or a folder of images with labels.csv (--label COLUMN)

            examples:
              {PROG} defend runs/mnist --data /data/morphomnist --eps 0.1 0.3 --n 100 --json defense.json
              {PROG} defend runs/glyphs --data morpho-glyphs --n 50 --restarts 4 --steps 150 --bpda-steps 10
              {PROG} defend runs/faces --data faces_dir --label Male --classifier clf/ --bpda-steps 0"""),
    )
    p.add_argument("model_dir", metavar="MODEL", help="a trained image model (a folder written by 'train', or run:ID)")
    p.add_argument("--data", required=True, metavar="NAME|DIR", help="the labelled images (see below)")
    p.add_argument("--label", metavar="COLUMN", help="the class column (default: glyph / digit for the datasets above)")
    p.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.3], help="L-infinity radii (default 0.1 0.3)")
    p.add_argument("--n", type=_positive_int, default=100, help="test images attacked (default 100)")
    p.add_argument("--train-n", type=_positive_int, default=5000,
                   help="images before the test images, the classifier's training set (default 5000)")
    p.add_argument("--classifier", metavar="DIR", help="a classifier saved by --save-classifier (skips training)")
    p.add_argument("--save-classifier", metavar="DIR", help="save the classifier trained here (safetensors + JSON)")
    p.add_argument("--epochs", type=_positive_int, default=5, help="classifier training epochs (default 5)")
    p.add_argument("--pgd-steps", type=_positive_int, default=40, help="PGD steps, step size 2.5 eps / steps (default 40)")
    p.add_argument("--bpda-steps", type=int, default=40, help="BPDA attack steps (default 40; 0 skips BPDA)")
    p.add_argument("--latent-steps", type=int, default=200,
                   help="latent-space attack (Athalye et al.'s on Defense-GAN): Adam steps on the generator's latents "
                        "for a misclassified image near each test image, from --restarts starts whose 2 x --restarts "
                        "candidates the attacker's projection checks (default 200: about half the time of BPDA's 40 "
                        "steps; 0 skips it)")
    p.add_argument("--restarts", type=_positive_int, default=10, help="projection: random starts per image (default 10)")
    p.add_argument("--steps", type=_positive_int, default=300, help="projection: Adam steps (default 300)")
    p.add_argument("--attack-restarts", type=_positive_int, help="the BPDA attacker's projection: starts (default --restarts)")
    p.add_argument("--attack-steps", type=_positive_int, help="the BPDA attacker's projection: steps (default --steps)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data, classifier, attacks and projections (default 0)")
    p.add_argument("--json", metavar="OUT.json", help="write the accuracies, times and settings here")
    p.set_defaults(run=cmd_defend)

    p = sub.add_parser(
        "hypotheses",
        formatter_class=fmt,
        help="rank candidate causal graphs of a table by held-out fit, with intervals and p-values",
        description=_para("Which of several causal graphs do the data support? One small model per (node, parents) "
        "family of every candidate is fitted on the training rows of each split and seed (each family once, shared "
        "by every candidate containing it) and scores the held-out rows; candidates are ranked by mean held-out "
        "negative log-likelihood per row (lower is better), compared in pairs on the same rows (intervals "
        "and Holm-corrected p-values covering the held-out rows and the fits' own noise), with what each verdict rests on (Markov equivalent graphs differ "
        "only through the noise model or interventions) and the classical evidence beside it (BIC, BDeu, implied "
        "independences, a permutation test). Candidates are named H1, H2, ... in order, or NAME=\"a -> b\"."),
        epilog=textwrap.dedent(f"""\
            splits (--split): kfold (default; kfold:K), ood (the top quarter of each continuous variable held out
            in turn; ood:bottom, ood:both, ood:0.2, ood:x1,x2), env:COLUMN (train on the other environments, test on
            each), or a condition selecting the test rows ('age > 60 and sex == "F"').

            examples:
              {PROG} hypotheses --data data.csv --candidate "a -> b; b -> c" --candidate "c -> b; b -> a" --out report.json
              {PROG} hypotheses --dataset chain5-lin --candidate chain="x1 -> x2 -> x3" \\
                  --candidate fork="x2 -> x1; x2 -> x3" --split ood --seeds 2 --out report.json --export report/
              {PROG} hypotheses --data data.csv --around "a -> b; b -> c" --distance 1 --workers 2 --out report.json
              {PROG} hypotheses --data data.csv --around "a -> b; b -> c" --orient "a -- b" --orient "b -- c" --out r.json
              {PROG} hypotheses --data exp.csv --regime regime --candidate "a -> b" --candidate "b -> a" --out r.json"""),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", metavar="FILE.csv", help="the table: one column per node (other columns are ignored)")
    _missing_options(p)
    src.add_argument("--dataset", metavar="NAME", help="a built-in dataset (see 'datasets'), -n rows of it")
    p.add_argument("-n", "--rows", type=_positive_int, help="--dataset: rows to draw (default 1000)")
    p.add_argument("--candidate", action="append", metavar="'a -> b; b -> c'",
                   help="a candidate graph, repeatable; NAME=\"a -> b\" names it (default H1, H2, ...)")
    p.add_argument("--around", metavar="GRAPH", help="add this graph and every graph within --distance edge "
                   "additions, removals and reversals of it (graph text or a file)")
    p.add_argument("--distance", type=_positive_int, default=1, help="--around: edits away (default 1)")
    p.add_argument("--limit", type=_positive_int, default=200, help="--around: at most this many graphs (default 200)")
    p.add_argument("--orient", action="append", metavar="'a -- b'", help="with --around: instead of --distance, "
                   "this edge in both directions (repeatable: every combination that stays acyclic)")
    p.add_argument("--split", default="kfold", metavar="SPLIT", help="kfold (default), ood, env:COLUMN or a condition")
    p.add_argument("--folds", type=_positive_int, default=5, help="K of K-fold (default 5)")
    p.add_argument("--seeds", type=_positive_int, default=2, help="model seeds per split (default 2; the fits' own noise "
                   "is estimated from the folds and seeds, not at all from one seed of fixed splits)")
    p.add_argument("--model", default="causal-gen", metavar="KIND", help="model fitted per family: causal-gen "
                   "(default), causal-vgen or linear-anm")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a model setting, repeatable (e.g. --set steps=300)")
    p.add_argument("--score", choices=("nll", "mse"), default="nll", help="nll: held-out negative log-likelihood "
                   "(default); mse: the paper's squared error")
    p.add_argument("--raw", action="store_true", help="do not standardize continuous columns (the variance order "
                   "can then decide: see the report's varsortability)")
    p.add_argument("--regime", metavar="COLUMN", help="a column naming each row's intervened node(s) (empty or "
                   "'obs' for observational rows); those mechanisms are left out of those rows")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05, Holm-corrected)")
    p.add_argument("--no-classical", action="store_true", help="skip BIC, BDeu, the implied-independence tests "
                   "and the permutation test")
    p.add_argument("--permutations", type=int, default=100, help="random relabellings in the permutation test "
                   "(default 100; 0 skips it)")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes for the fits (default 1)")
    p.add_argument("--ray", metavar="ADDRESS", help="run the fits on a Ray cluster (an optional extra: "
                   "pip install ray): auto, ray://host:10001, or local")
    p.add_argument("--seed", type=int, default=0, help="random seed of folds, models and bootstrap (default 0)")
    p.add_argument("--out", metavar="REPORT.json", help="write the report as JSON here")
    p.add_argument("--export", metavar="DIR", help="write report.json, ranking/pairs/nodes CSV and PNG figures here")
    p.set_defaults(run=cmd_hypotheses)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 2 bad input, 130 interrupted)."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_help(sys.stderr)
        return EXIT_ERROR
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error already printed
        return e.code if isinstance(e.code, int) else 0 if e.code is None else EXIT_ERROR
    try:
        return args.run(args)
    except KeyboardInterrupt as e:
        from app.worker import Terminated

        if isinstance(e, Terminated):
            print("stopped: terminated (SIGTERM); what was saved so far is kept", file=sys.stderr)
            return EXIT_TERMINATED
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `counterfactory datasets loan | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    # Library errors are ValueErrors (DataError, GraphError, InterventionError, EvidenceError,
    # CheckpointError...); FloatingPointError is a diverged training run.
    except (ValueError, OSError, FloatingPointError) as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return EXIT_ERROR
    except sqlite3.Error as e:  # the workspace database held by another writer past its busy timeout
        print(f"error: the workspace database is busy or unavailable ({_one_line(e)}); try again", file=sys.stderr)
        return EXIT_ERROR
