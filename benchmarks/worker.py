"""Run one stage in this process and print its measurement: ``python -m benchmarks.worker MODULE STAGE DATA RUNS``.

The parent (:mod:`benchmarks.run`) starts one worker per stage, so that peak memory (``ru_maxrss``) belongs to
that stage alone and a stage that hangs can be killed. Only the stage's own module is imported, which is what
lets lifetimes stages run in their own environment without crmscore.
"""

from __future__ import annotations

import importlib
import sys

from benchmarks._measure import measure, run_guarded
from benchmarks.registry import STAGES, DataSpec


def main(argv: list[str]) -> None:
    module, name, data_json, runs = argv
    data = DataSpec.from_json(data_json)

    def go() -> dict[str, object]:
        importlib.import_module(module)
        st = STAGES[name]
        return measure(lambda: st.setup(data), int(runs))

    run_guarded(go)


if __name__ == "__main__":
    main(sys.argv[1:])
