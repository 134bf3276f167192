"""Stand-ins for the CI runners' own processes (neither actions/runner nor gitlab-runner can run here).

`install_listener(dir)` puts an executable `bin/Runner.Listener` into a runner directory: a real process
that writes its `_diag` trace files the way actions/runner v2.336.0 does (HostTraceListener's
`[yyyy-MM-dd HH:mm:ssZ INFO Source] message` records, one `Runner_<utc>.log` per start or 8 MiB page, one
`Worker_<utc>.log` per job with the job message's JSON), driven line by line on its stdin:

    job NAME REPO WORKFLOW   a job arrives: "Job request ... received", "Running job: NAME", the Worker's file
    finish RESULT            the job ends: "finish job request for job <id> with result: RESULT"
    page                     the Listener starts a new Runner_ file (its page limit)

`gitlab_line(...)` formats a line as gitlab-runner's RunnerTextFormatter (v19.4.0) writes it, colours on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LISTENER = r"""#!{python}
import json, os, sys, time, uuid
from datetime import datetime, timezone

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
diag = os.path.join(root, "_diag")
os.makedirs(diag, exist_ok=True)

def now():
    return datetime.now(timezone.utc)

def u(t):
    return t.strftime("%Y-%m-%d %H:%M:%SZ")

def new_file(prefix):
    t = now()
    name = os.path.join(diag, f"{{prefix}}_{{t:%Y%m%d-%H%M%S}}-utc.log")
    return open(name, "a", buffering=1, encoding="utf-8")

def trace(f, source, message):
    f.write(f"[{{u(now())}} INFO {{source}}] {{message}}\n")
    f.flush()

def term(f, text):
    trace(f, "Terminal", f"WRITE LINE: {{text}}")

log = new_file("Runner")
trace(log, "Listener", "Version: 2.336.0")
trace(log, "Listener", "Commit: 258d6c857db3519913f7deb6004b60172f8043ae")
term(log, "Current runner version: '2.336.0'")
term(log, f"{{u(now())}}: Listening for Jobs")
print("ready", flush=True)
job = None
request = 1000
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    if words[0] == "job":
        name, repo, workflow = words[1], words[2], words[3]
        request += 1
        job = (str(uuid.uuid4()), name)
        plan = uuid.uuid4()
        trace(log, "JobDispatcher", f"Job request {{request}} for plan {{plan}} job {{job[0]}} received.")
        term(log, f"{{u(now())}}: Running job: {{name}}")
        worker = new_file("Worker")
        trace(worker, "Worker", "Version: 2.336.0")
        message = {{
            "messageType": "PipelineAgentJobRequest",
            "jobId": job[0],
            "jobDisplayName": name,
            "jobName": name,
            "requestId": request,
            "contextData": {{"github": {{"t": 2, "d": [
                {{"k": "repository", "v": repo}},
                {{"k": "workflow", "v": workflow}},
                {{"k": "job", "v": name}},
            ]}}}},
        }}
        trace(worker, "Worker", "Job message:\n " + json.dumps(message, indent=2))
        trace(worker, "Worker", "Listening for cancel message from the channel.")
        worker.close()
    elif words[0] == "finish" and job is not None:
        result = words[1]
        code = {{"Succeeded": 100, "Failed": 102, "Canceled": 103}}.get(result, 102)
        trace(log, "JobDispatcher", f"Worker finished for job {{job[0]}}. Code: {{code}}")
        trace(log, "JobDispatcher", f"finish job request for job {{job[0]}} with result: {{result}}")
        term(log, f"{{u(now())}}: Job {{job[1]}} completed with result: {{result}}")
        job = None
    elif words[0] == "page":
        log.close()
        time.sleep(1.1)  # file names carry the second
        log = new_file("Runner")
    print("done", flush=True)
"""


def install_listener(directory: Path) -> Path:
    (directory / "bin").mkdir(parents=True, exist_ok=True)
    script = directory / "bin" / "Runner.Listener"
    script.write_text(LISTENER.format(python=sys.executable))
    script.chmod(0o755)
    return script


class Listener:
    """A running stand-in Runner.Listener; `send` waits until it has written what the command tells."""

    def __init__(self, directory: Path) -> None:
        self.proc = subprocess.Popen(
            [str(directory / "bin" / "Runner.Listener"), "run"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def gitlab_line(message: str, fields: dict[str, object], level: str = "info") -> str:
    """One line of gitlab-runner's "runner" log format, colours on (log/runner_formatter.go)."""
    yellow, red, reset = "\x1b[0;33m", "\x1b[31;1m", "\x1b[0;m"
    color, prefix = {"info": ("", ""), "warning": (yellow, "WARNING: "), "error": (red, "ERROR: ")}[level]
    out = f"{color}{prefix}{message:<{50 - len(prefix)}}{reset} "
    for k in sorted(fields):
        out += f" {color}{k}{reset}={fields[k]}"
    return out + "\n"
