"""Random registry histories written by GTO and by mlci, read by both: the
oracle of mlci's registry state (GTO 1.10.1, driven through its Python API
in this one process, so a step costs milliseconds rather than GTO's start).

Usage: registry_oracle.py MLCI FIRST SEEDS STEPS WORKDIR

For each seed of FIRST..FIRST+SEEDS: a repository with three commits of two declared artifacts;
then STEPS random writes (register with or without a version or a bump,
assign, unassign, deregister, deprecate, a new commit), each made by GTO or
by mlci at a chosen tag time (a third of them in the same second as the
write before: ties GTO orders by its own rules), and now and then a version
tag made by hand with git (which can put two versions on one commit, a
state GTO refuses). After every step both tools read the registry and must
agree: `gto show --deprecated` against `mlci model list --json
--deprecated`, and per artifact `gto show NAME` against `mlci model show
NAME --json` and `gto history NAME` against `mlci model history NAME
--json`. Where GTO refuses to read, mlci must refuse with GTO's reason,
and no write mlci made may lead there.

Prints JSON {"sequences", "steps", "writes": {tool: n}, "refused":
{tool: n}, "ties", "unreadable", "mismatches": [...]}; the first mismatches
carry the seed, the step and the writes so far.
"""
import datetime
import json
import os
import random
import subprocess
import sys
import time

MLCI, WORK = sys.argv[1], sys.argv[5]
FIRST, SEEDS, STEPS = (int(a) for a in sys.argv[2:5])

# A hermetic git for this process and every child: no user or system
# configuration, one identity.
os.environ.update(
    {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Reg Tester",
        "GIT_AUTHOR_EMAIL": "reg@example.com",
        "GIT_COMMITTER_NAME": "Reg Tester",
        "GIT_COMMITTER_EMAIL": "reg@example.com",
        "DO_NOT_TRACK": "1",
        "GTO_NO_ANALYTICS": "1",
        "GTO_EMOJIS": "false",
    }
)

# GTO stamps its tags with time.time() (dulwich) or GIT_COMMITTER_DATE (the
# git CLI): the test's clock, either way.
CLOCK = [0]
time.time = lambda: float(CLOCK[0])

import gto.api as gto  # noqa: E402  (after the clock is in place)
import gto.registry as gto_registry  # noqa: E402

# Between two writes the tags do not change: GTO's state is computed once
# and shared by every read of that step (GTO's own get_state, memoized;
# its readers never change the state they read). Writes clear it.
_get_state = gto_registry.GitRegistry.get_state
STATES = {}


def _memo_state(self, all_branches=False, all_commits=False):
    key = (str(self.scm.root_dir), all_branches, all_commits)
    if key not in STATES:
        STATES[key] = _get_state(self, all_branches=all_branches, all_commits=all_commits)
    return STATES[key]


def reading(on):
    STATES.clear()
    gto_registry.GitRegistry.get_state = _memo_state if on else _get_state


ARTIFACTS = ["churn", "fraud"]
STAGES = ["dev", "staging", "prod"]


def git(repo, *args, env=None):
    out = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {args}: {out.stderr}")
    return out.stdout.strip()


def new_repo(path, rng):
    os.makedirs(path)
    git(path, "init", "-q", "-b", "main")
    with open(os.path.join(path, "dvc.yaml"), "w") as f:
        f.write(
            "artifacts:\n"
            + "".join(f"  {a}:\n    path: {a}.pkl\n    type: model\n" for a in ARTIFACTS)
        )
    commits = []
    for i in range(3):
        commits.append(commit(path, f"m{i} {rng.random()}"))
    return commits


def commit(path, content):
    for a in ARTIFACTS:
        with open(os.path.join(path, f"{a}.pkl"), "w") as f:
            f.write(f"{a} {content}\n")
    git(path, "add", "-A")
    env = dict(os.environ, GIT_COMMITTER_DATE="@1700000000 +0000", GIT_AUTHOR_DATE="@1700000000 +0000")
    git(path, "commit", "-q", "-m", content, env=env)
    return git(path, "rev-parse", "HEAD")


def mlci(repo, args, at=None):
    env = dict(os.environ)
    if at is not None:
        env["GIT_COMMITTER_DATE"] = f"@{at} +0000"
    return subprocess.run(
        [MLCI, *args], cwd=repo, capture_output=True, text=True, env=env
    )


def mlci_json(repo, args):
    out = mlci(repo, args)
    if out.returncode != 0:
        return {"error": out.stderr.strip(), "code": out.returncode}
    return json.loads(out.stdout)


def iso(t):
    if isinstance(t, datetime.datetime):
        return t.isoformat()
    return t


def gto_read(fn):
    try:
        return fn()
    except Exception as e:  # GTO's refusals are exceptions
        return {"error": f"{type(e).__name__}: {e}"}


def views(repo):
    """What each tool says, in one comparable shape."""
    g_all = gto_read(lambda: gto.show(repo, deprecated=True))
    m_all = mlci_json(repo, ["model", "list", "--json", "--deprecated"])
    g, m = {}, {}
    if "error" in g_all:
        g["show"] = "refused"
    else:
        g["show"] = {
            name: {
                "version": a["version"],
                "stage": {s: v for s, v in a["stage"].items() if v is not None},
                "active": a["active"],
            }
            for name, a in g_all.items()
        }
    if "error" in m_all:
        m["show"] = "refused"
        m["why"] = m_all["error"]
    else:
        m["show"] = {
            a["name"]: {
                "version": a["latest"],
                "stage": a["stages"],
                "active": not a["deprecated"],
            }
            for a in m_all["artifacts"]
        }
    if g["show"] == "refused":
        return g, m
    for name in g["show"]:
        gv = gto_read(lambda: gto.show(repo, name))
        mv = mlci_json(repo, ["model", "show", name, "--json", "--no-metrics"])
        if "error" in mv:
            m[name] = mv["error"]
        else:
            listed = [] if mv["deprecated"] else mv["versions"]
            m[name] = sorted(
                (v["version"], v["commit"], sorted(v["stages"]), iso(v["created_at"]))
                for v in listed
            )
        g[name] = sorted(
            (
                v["version"],
                v["commit_hexsha"],
                sorted(s["stage"] for s in v["stages"]),
                iso(v["created_at"]),
            )
            for v in gv
        )
        gh = gto_read(lambda: gto.history(repo, name))
        mh = mlci_json(repo, ["model", "history", name, "--json"])
        keys = ["event", "version", "stage", "commit", "author", "author_email", "message"]
        g[name + " history"] = [
            [iso(e["timestamp"]), e["ref"]] + [e[k] for k in keys] for e in reversed(gh)
        ]
        m[name + " history"] = (
            mh["error"]
            if "error" in mh
            else [[e["created_at"], e["tag"]] + [e[k] for k in keys] for e in mh]
        )
    return g, m


def state(repo):
    """Registered versions, their commits and stages, as GTO sees them."""
    try:
        s = gto.show(repo, deprecated=True)
        out = {}
        for name in s:
            out[name] = gto.show(repo, name)
        return s, out
    except Exception:
        return None, None


def pick_write(rng, repo, commits):
    """A write that is likely (not certain) to be allowed."""
    summary, versions = state(repo)
    name = rng.choice(ARTIFACTS)
    vs = [v for v in (versions or {}).get(name, []) if v["version"].startswith("v")]
    roll = rng.random()
    if roll < 0.08:
        return ("commit",)
    if roll < 0.12:
        # A version tag by hand, on any commit (possibly one with a version).
        return ("hand", name, f"v{rng.randint(0, 3)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}", rng.choice(commits))
    if roll < 0.40 or not vs:
        how = rng.choice(["auto", "auto", "minor", "version"])
        version = f"v{rng.randint(1, 4)}.{rng.randint(0, 5)}.0" if how == "version" else None
        return ("register", name, rng.choice(commits), how, version)
    v = rng.choice(vs)
    if roll < 0.70:
        return ("assign", name, v["version"], rng.choice(STAGES))
    if roll < 0.82:
        held = [s["stage"] for s in v["stages"]]
        return ("unassign", name, v["version"], rng.choice(held or STAGES))
    if roll < 0.92:
        return ("deregister", name, v["version"])
    return ("deprecate", name)


def write(tool, op, repo, commits, at, rng):
    """Performs `op` with `tool` at tag time `at`; True when it was made."""
    reading(False)
    try:
        return write_now(tool, op, repo, commits, at, rng)
    finally:
        reading(True)


def write_now(tool, op, repo, commits, at, rng):
    CLOCK[0] = at
    kind = op[0]
    if kind == "commit":
        commits.append(commit(repo, f"m{len(commits)} {rng.random()}"))
        return True
    if kind == "hand":
        _, name, version, rev = op
        try:
            env = dict(os.environ, GIT_COMMITTER_DATE=f"@{at} +0000")
            git(repo, "tag", "-a", f"{name}@{version}", "-m", "by hand", rev, env=env)
            return True
        except RuntimeError:
            return False
    if tool == "gto":
        # Whichever git backend GTO's scmrepo picks: dulwich reads the
        # patched clock, pygit2 declines a set date (and hands over),
        # the git CLI reads the date from the environment.
        os.environ["GIT_COMMITTER_DATE"] = f"@{at} +0000"
        try:
            if kind == "register":
                _, name, rev, how, version = op
                gto.register(repo, name, rev, version=version, bump_minor=how == "minor")
            elif kind == "assign":
                gto.assign(repo, op[1], op[3], version=op[2])
            elif kind == "unassign":
                gto.unassign(repo, op[1], version=op[2], stage=op[3])
            elif kind == "deregister":
                gto.deregister(repo, op[1], version=op[2])
            elif kind == "deprecate":
                gto.deprecate(repo, op[1])
            return True
        except Exception:
            return False
        finally:
            del os.environ["GIT_COMMITTER_DATE"]
    if kind == "register":
        _, name, rev, how, version = op
        args = ["model", "register", name, rev]
        if how == "minor":
            args += ["--bump", "minor"]
        if version:
            args += ["--version", version]
    elif kind == "assign":
        args = ["model", "promote", op[1], op[2], "--to", op[3]]
    elif kind == "unassign":
        args = ["model", "unassign", op[1], op[2], "--stage", op[3]]
    elif kind == "deregister":
        args = ["model", "deregister", op[1], op[2]]
    else:
        args = ["model", "deprecate", op[1]]
    out = mlci(repo, args, at)
    if out.returncode not in (0, 1, 2):
        raise RuntimeError(f"mlci {args}: exit {out.returncode}: {out.stderr}")
    return out.returncode == 0


def main():
    reading(True)
    report = {
        "sequences": SEEDS,
        "steps": 0,
        "writes": {"gto": 0, "mlci": 0, "git": 0},
        "refused": {"gto": 0, "mlci": 0, "git": 0},
        "ties": 0,
        "unreadable": 0,
        "mismatches": [],
    }
    for seed in range(FIRST, FIRST + SEEDS):
        rng = random.Random(seed)
        repo = os.path.join(WORK, f"r{seed}")
        commits = new_repo(repo, rng)
        at, done = 1_800_000_000, []
        for step in range(STEPS):
            op = pick_write(rng, repo, commits)
            tool = "git" if op[0] == "hand" else rng.choice(["gto", "mlci"])
            if op[0] != "commit":
                if rng.random() < 0.33 and done:
                    report["ties"] += 1
                else:
                    at += rng.randint(1, 3)
            made = write(tool, op, repo, commits, at, rng)
            report["steps"] += 1
            if op[0] == "commit":
                continue
            report["writes" if made else "refused"][tool] += 1
            done.append((tool, op, at, made))
            g, m = views(repo)
            if g["show"] == "refused":
                report["unreadable"] += 1
                if (
                    m["show"] != "refused"
                    or "multiple versions are not allowed" not in m["why"]
                    or (tool == "mlci" and made)
                ):
                    report["mismatches"].append(
                        {"seed": seed, "step": step, "gto": "refused", "mlci": m, "writes": done}
                    )
                break  # GTO reads nothing more of this registry
            if g != m and len(report["mismatches"]) < 5:
                diff = {k: {"gto": g.get(k), "mlci": m.get(k)} for k in set(g) | set(m) if g.get(k) != m.get(k)}
                report["mismatches"].append(
                    {"seed": seed, "step": step, "differs": diff, "writes": done}
                )
                break
    print(json.dumps(report, indent=1, default=str))


main()
