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


# `config.sh` of an unpacked actions/runner release, as far as the product uses it: `--unattended ...`
# writes `.runner` (Json.NET indented camelCase with a BOM), `.credentials` and `.credentials_rsaparams` as
# ConfigurationManager does; `remove` deletes them. The token must come in ACTIONS_RUNNER_INPUT_TOKEN (the
# product never passes it on the command line); without it the real tool fails the same way.
CONFIG_SH = r"""#!{python}
import json, os, sys
args = sys.argv[1:]
token = os.environ.get("ACTIONS_RUNNER_INPUT_TOKEN", "")
if any(token and token in a for a in args):
    sys.exit("a token on the command line")
if args[:1] == ["remove"]:
    if not token:
        sys.exit("Failed: --token is required to remove")
    for name in (".runner", ".credentials", ".credentials_rsaparams"):
        if os.path.exists(name):
            os.remove(name)
    print("# Runner removal\n\n√ Runner removed successfully\n√ Removed .credentials\n√ Removed .runner")
    sys.exit(0)
opts, flags, i = {{}}, set(), 0
while i < len(args):
    a = args[i].lstrip("-")
    if a in ("unattended", "replace", "ephemeral", "disableupdate", "no-default-labels"):
        flags.add(a); i += 1
    else:
        opts[a] = args[i + 1]; i += 2
if "unattended" not in flags or not token:
    sys.exit("Failed: --unattended needs --url and --token")
settings = {{
    "agentId": 4000 + len(opts["name"]),
    "agentName": opts["name"],
    "poolId": 1,
    "poolName": "Default",
    "serverUrl": "https://pipelines.actions.githubusercontent.com/stand-in/",
    "gitHubUrl": opts["url"],
    "workFolder": opts.get("work", "_work"),
}}
if "ephemeral" in flags:
    settings["ephemeral"] = True
with open(".runner", "w", encoding="utf-8-sig") as f:
    json.dump(settings, f, indent=2)
with open(".credentials", "w", encoding="utf-8-sig") as f:
    data = {{"clientId": "stand-in-client", "authorizationUrl": opts["url"]}}
    json.dump({{"scheme": "OAuth", "data": data}}, f, indent=2)
with open(".credentials_rsaparams", "w") as f:
    f.write("{{}}")
print("--------------------------------------------------------------------------------")
print("|        ____ _ _   _   _       _          _        _   _                      |")
print("\n# Authentication\n\n√ Connected to GitHub\n\n# Runner Registration\n")
print("√ Runner successfully added\n√ Runner connection is good\n\n# Runner settings\n\n√ Settings Saved.")
"""

# `run.sh` with a just-in-time config: the runner writes the files the config holds (a base64 JSON map of
# file name -> base64 content) and listens; the stand-in then starts the Listener stand-in, whose stdin is
# closed: it writes its start and exits, as an ephemeral runner does after its job.
RUN_SH = r"""#!{python}
import base64, json, os, subprocess, sys
jit = os.environ.get("ACTIONS_RUNNER_INPUT_JITCONFIG", "")
if not jit:
    sys.exit("not configured")
for name, content in json.loads(base64.b64decode(jit)).items():
    with open(name, "wb") as f:
        f.write(b"\xef\xbb\xbf" + base64.b64decode(content))
listener = os.path.join(os.getcwd(), "bin", "Runner.Listener")
subprocess.run([listener, "run"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
"""

# `gitlab-runner` as far as the product uses it: `register --non-interactive --config C --url U --name N
# --executor E` with the runner authentication token in CI_SERVER_TOKEN appends a [[runners]] table as
# the real one writes it (it would also verify the token with the server: not here); `unregister --config
# C --name N` removes it.
GITLAB_RUNNER = r"""#!{python}
import os, re, sys
from datetime import datetime, timezone
args = sys.argv[1:]
cmd, opts, i = args[0], {{}}, 1
while i < len(args):
    if args[i] == "--non-interactive":
        i += 1
        continue
    opts[args[i].lstrip("-")] = args[i + 1]; i += 2
config = opts["config"]
text = open(config).read() if os.path.exists(config) else "concurrent = 1\ncheck_interval = 0\n"
if cmd == "register":
    token = os.environ.get("CI_SERVER_TOKEN", "")
    if not token.startswith("glrt-"):
        sys.exit("ERROR: Registering runner... failed: a runner authentication token (glrt-) is required")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    text += "\n".join([
        "",
        "[[runners]]",
        f'  name = "{{opts["name"]}}"',
        f'  url = "{{opts["url"]}}"',
        "  id = 0",
        f'  token = "{{token}}"',
        f"  token_obtained_at = {{now}}",
        "  token_expires_at = 0001-01-01T00:00:00Z",
        f'  executor = "{{opts["executor"]}}"',
        "",
    ])
    open(config, "w").write(text)
    print("Runner registered successfully. Feel free to start it, but if it's running already the config "
          "should be automatically reloaded!")
elif cmd == "unregister":
    blocks = re.split(r"(?m)^(?=\[\[runners\]\])", text)
    kept = [b for b in blocks if f'name = "{{opts["name"]}}"' not in b]
    open(config, "w").write("".join(kept))
    print(f"Unregistering runner from GitLab succeeded  runner={{opts['name']}}")
"""


def install_tool(path: Path, template: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template.format(python=sys.executable))
    path.chmod(0o755)
    return path


def runner_release(directory: Path) -> Path:
    """An "unpacked runner release": config.sh, run.sh and bin/Runner.Listener stand-ins; its config.sh."""
    install_listener(directory)
    install_tool(directory / "run.sh", RUN_SH)
    return install_tool(directory / "config.sh", CONFIG_SH)
