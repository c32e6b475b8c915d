"""The benchmark harness (not part of the wheel): configs (:mod:`.config`), the
(experiment, noise, seed) splits (:mod:`.splits`), the recipes, each a call of the public API
(:mod:`.recipes`), the run loop (:mod:`.run`), the markdown tables (:mod:`.render`) and the
loaders of the shared data (:mod:`.datasets`). Importing it does not import torch.

    python -m benchmarks.harness.run table2 --smoke --out /tmp/smoke
"""
