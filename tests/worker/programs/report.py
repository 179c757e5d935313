"""A registered type's program in Python: logs on both streams, progress, a file and
result.json (what it read and saw, as metadata: keys starting with "_")."""

import json
import os
import sys
from pathlib import Path

job = json.loads(Path(os.environ["SHOAL_INPUT"]).read_text())
output = Path(os.environ["SHOAL_OUTPUT_DIR"])
print(f"job {os.environ['SHOAL_JOB_ID']} attempt {os.environ['SHOAL_ATTEMPT']}", flush=True)
print(f"threads: {os.environ.get('MODEL_THREADS', 'unset')}", file=sys.stderr, flush=True)
print("::progress 0.25 reading", flush=True)
print("::progress 0.75", flush=True)
(output / "summary.txt").write_text(f"{len(job)} keys\n")
result = {"_input": job, "_worker_key_seen": "SHOAL_API_KEY" in os.environ}
(output / "result.json").write_text(json.dumps(result))
print("done", flush=True)
