"""A registered type's program that aggregates a sweep: its input takes the sweep's
manifest, one job's file and that job's payload ``$from`` its parents (local paths by
the time it runs); result.json holds what it read."""

import json
import os
from pathlib import Path

given = json.loads(Path(os.environ["SHOAL_INPUT"]).read_text())
ids = [json.loads(Path(e["files"]["result.json"]).read_text())["id"] for e in given["sweep"]]
one = json.loads(Path(given["one"]).read_text())
result = {"ids": ids, "statuses": [e["status"] for e in given["sweep"]], "one": one["id"]}
result["payload"] = given["payload"]
result["paths"] = sorted(
    {str(Path(e["files"]["result.json"]).parent.parent.name) for e in given["sweep"]}
)
(Path(os.environ["SHOAL_OUTPUT_DIR"]) / "result.json").write_text(json.dumps(result))
