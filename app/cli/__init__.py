"""The command line: built-in datasets, training, sampling, counterfactuals and graph tools.

Every command is a thin wrapper over the same library calls a script makes; bad input ends
with one line ``error: <message>`` on stderr and exit code 2, never a traceback. One module
per command group (``info``: datasets, graph, settings; ``train``; ``query``: sample,
counterfactual; ``debias``: de-biased datasets; ``hypotheses``: candidate graphs ranked by held-out fit; ``defense``: a classifier under attack, bare and behind a generator's range; ``runs``), the values they share in ``common``, the parser and ``main`` in
``parser``.

>>> main(["graph", "a -> b; b -> c"])
a -> b; b -> c
nodes (canonical order): a, b, c
0
"""

from app.cli.parser import build_parser, main

__all__ = ["main", "build_parser"]
