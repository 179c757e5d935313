"""A registered type's program in Python, run by shoal dev's workers: sums its input's
values; logs on both streams, progress, a file and result.json. Half way it waits until
the file $GATE exists."""

import json
import os
import sys
import time
from pathlib import Path

values = json.loads(Path(os.environ["SHOAL_INPUT"]).read_text())["values"]
output = Path(os.environ["SHOAL_OUTPUT_DIR"])
print(f"summing {len(values)} values", flush=True)
print(f"job {os.environ['SHOAL_JOB_ID']}", file=sys.stderr, flush=True)
print("::progress 0.5 half way", flush=True)
while not Path(os.environ["GATE"]).exists():
    time.sleep(0.05)
(output / "values.csv").write_text("".join(f"{v}\n" for v in values))
(output / "result.json").write_text(json.dumps({"total": sum(values), "count": len(values)}))
print("done", flush=True)
