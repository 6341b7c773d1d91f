"""Which runs the study tabulates: only <method>-split<k>, never a renamed experiment beside them."""

from __future__ import annotations

import math

from bench.runs import RunRecord, write_record
from bench.study import measured


def _write(root, name, method, top1=None, epe=None):
    folder = root / "synthetic" / "runs" / name
    folder.mkdir(parents=True)
    flow = {"split1_test": {"epe": epe, "references": {"tvl1": {"epe": 0.5}}}} if epe is not None else {}
    metrics = {"top1": top1, "top5": None, "mean_class_acc": None}
    write_record(folder, RunRecord(name=name, method=method, dataset="synthetic", split=1, metrics=metrics,
                                   flow_metrics=flow))  # fmt: skip


def test_renamed_runs_stay_out_of_the_tables(tmp_path):
    _write(tmp_path, "tvl1-split1", "tvl1", top1=0.357)
    _write(tmp_path, "tvl1-e30-split1", "tvl1", top1=0.417)  # a longer schedule beside the study
    _write(tmp_path, "gtflow-split1", "gtflow", top1=0.310)
    _write(tmp_path, "flow-full-split1", "flow-full", epe=0.25)
    _write(tmp_path, "flow-full-long70-split1", "flow-full", epe=0.15)
    runs, flows = measured(tmp_path, ("synthetic",))
    assert [(r.method, r.top1) for r in runs] == [("gtflow", 0.310), ("tvl1", 0.357)]
    assert all(r.path.endswith(f"{r.method}-split1/record.json") for r in runs)
    assert [(f.method, f.epe) for f in flows] == [("flow-full", 0.25), ("flow-tvl1", 0.5)]
    assert all(math.isnan(f.top1) for f in flows)
