"""Times mlci and DVC side by side on the same workloads; prints ratios.

Resets between runs move files into a trash directory instead of deleting
them, and nothing is deleted right before a timed run: ext4 without a
journal (as on the reference machine) will not reuse an inode freed in the
last 60 seconds (`recently_deleted()` in its allocator; 360 s while the
inode table block is dirty), and each file created meanwhile scans past every
such inode, so creating 20,000 files right after deleting 100,000 ran five
times slower here, and whichever tool ran next would pay for the clean-up.
After any bulk deletion (the previous run's leftovers, freeing disk between
remote blocks) the script syncs and waits out the longer window (`settle`):
a run right after another waits up to six minutes before timing.

It also waits for a quiet minute after the build that `run.sh` does first:
the reference machine is a VM that hands freed memory back to its host, and
for a while after a compile (rustc frees gigabytes) creating files cost both
tools ~30 % more, which shrinks the ratio of the faster one.

Each figure is the median of several runs. Before every timed run the
workload is in the page cache for both tools alike (it is generated once and
read back whole before timing starts), and the two tools alternate run by
run so drift on a noisy machine hits both. Peak memory comes from wait4's
rusage of that one child process.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

ENV = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_NO_UPDATER="1", NO_COLOR="1", DO_NOT_TRACK="1",
           GTO_EMOJIS="false",
           GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@mlci.invalid",
           GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@mlci.invalid")


def run(cmd, cwd, check=True):
    """Runs a command; returns (seconds, peak RSS in MiB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if check and code != 0:
        sys.exit(f"command failed ({code}): {' '.join(cmd)} in {cwd}\n{err}")
    return elapsed, usage.ru_maxrss / 1024


def sh(cmd, cwd):
    subprocess.run(cmd, cwd=cwd, env=ENV, shell=True, check=True, stdout=subprocess.DEVNULL)


def generate(work, nfiles, big_mib):
    """Deterministic workloads: nested small files and one big file."""
    src = os.path.join(work, f"src-{nfiles}-{big_mib}")
    if os.path.exists(os.path.join(src, ".done")):
        return src
    shutil.rmtree(src, ignore_errors=True)
    rng = random.Random(20261125)
    for i in range(nfiles):
        d = os.path.join(src, "small", f"d{i % 20:02d}", f"e{(i // 20) % 10}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
            f.write(rng.randbytes(rng.randint(1024, 8192)))
    # AES-CTR keystream: deterministic, incompressible, fast to make.
    sh(f"openssl enc -aes-128-ctr -nosalt -K 00112233445566778899aabbccddeeff -iv 0 -in /dev/zero 2>/dev/null"
       f" | head -c {big_mib << 20} > big.bin", src)
    open(os.path.join(src, ".done"), "w").close()
    return src


TRASH = []
# When files were last deleted in bulk (see the module doc); kept across runs
# in <work>/.last-delete.
LAST_DELETE = [0.0]
SETTLE_SECONDS = 370
STARTED = time.time()
QUIET_AFTER_BUILD = 60


def purge(path):
    """Deletes a tree now (untimed) and notes when, for `settle`."""
    if os.path.lexists(path):
        bulk = not os.path.isdir(path) or bool(os.listdir(path))
        sh(f"chmod -R u+w {path} && rm -rf {path}", "/")
        if not bulk:
            return
        LAST_DELETE[0] = time.time()
        if TRASH:
            with open(os.path.join(os.path.dirname(TRASH[0]), ".last-delete"), "w") as f:
                f.write(str(LAST_DELETE[0]))


def settle():
    """Waits until no inode freed by a bulk deletion is still 'recent' to
    the file system, so neither tool's creates pay for it."""
    if TRASH:
        try:
            with open(os.path.join(os.path.dirname(TRASH[0]), ".last-delete")) as f:
                LAST_DELETE[0] = max(LAST_DELETE[0], float(f.read()))
        except (OSError, ValueError):
            pass
    os.sync()
    wait = LAST_DELETE[0] + SETTLE_SECONDS - time.time()
    if wait > 0:
        print(f"  (waiting {wait:.0f} s for freed inodes to age; see bench/bench.py)", flush=True)
        time.sleep(wait)
    quiet = STARTED + QUIET_AFTER_BUILD - time.time()
    if quiet > 0:
        print(f"  (waiting {quiet:.0f} s after the build; see bench/bench.py)", flush=True)
        time.sleep(quiet)


def start_trash(work):
    """A fresh trash directory; a leftover one from an interrupted run goes."""
    if not TRASH:
        TRASH.append(os.path.join(work, "trash"))
    purge(TRASH[0])
    os.makedirs(TRASH[0], exist_ok=True)


def trash(path):
    """Moves `path` out of the way (see the module doc for why not delete)
    and drops its big files from the page cache: left there, a few GiB of
    trashed copies fill memory, and every later run pays for reclaim (a
    1 GiB `cp` went from 0.3 s to 1.9 s of system time once memory was
    full here), whichever tool happened to run then."""
    dest = os.path.join(TRASH[0], str(len(os.listdir(TRASH[0]))))
    os.rename(path, dest)
    os.sync()  # only clean pages can be dropped
    files = [dest] if os.path.isfile(dest) else [
        os.path.join(d, n) for d, _, names in os.walk(dest) for n in names]
    for f in files:
        try:
            if os.path.getsize(f) >= 1 << 20:
                fd = os.open(f, os.O_RDONLY)
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)
        except OSError:
            pass


def warm(path):
    sh(f"find {path} -type f -exec cat {{}} + > /dev/null", "/")


class Tool:
    def __init__(self, name, exe, work, src):
        self.name, self.exe = name, exe
        self.repo = os.path.join(work, f"repo-{name}")
        if os.path.exists(self.repo):
            trash(self.repo)  # deleted at the end, not before timing
        os.makedirs(self.repo)
        sh("git init -q -b main", self.repo)
        sh(f"cp -r {src}/small {src}/big.bin .", self.repo)
        if name == "dvc":
            sh(f"{exe} init -q && {exe} config core.analytics false && {exe} config core.check_update false", self.repo)
            self.meta = [".dvc/cache", ".dvc/tmp", "small.dvc", "big.bin.dvc", ".gitignore"]
        else:
            sh(f"{exe} init -q", self.repo)
            self.meta = [".mlci/cache", ".mlci/tmp", "small.mlci", "big.bin.mlci", ".gitignore"]

    def cmd(self, *args):
        return [self.exe, *args]

    def reset(self):
        """Forget everything tracked (cache, state, pointers) for a fresh add."""
        for m in self.meta:
            p = os.path.join(self.repo, m)
            if os.path.exists(p):
                trash(p)


def median_of(times):
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--mlci", required=True)
    ap.add_argument("--dvc", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=0)
    ap.add_argument("--suite", choices=["all", "data", "pipelines", "remotes", "ci", "import", "registry", "drift", "monitor", "fanout", "dvc-in-place", "experiments"],
                    default="all")
    ap.add_argument("--evidently-python", help="the Python of a venv with Evidently (bench/run.sh installs it)")
    ap.add_argument("--gto", help="GTO's executable (bench/run.sh installs it)")
    ap.add_argument("--wide-rows", type=int, default=0,
                    help="also run mlci drift on N rows x 1,000 columns (the drift suite; 3000000 in docs/benchmarks.md)")
    ap.add_argument("--s3-endpoint", help="SeaweedFS S3 endpoint (bench/run.sh starts one)")
    ap.add_argument("--s3-key")
    ap.add_argument("--s3-secret")
    ap.add_argument("--rclone")
    a = ap.parse_args()
    work = os.path.abspath(a.work)
    if a.suite == "pipelines":
        pipelines(a, work)
        return
    if a.suite == "remotes":
        remotes(a, work)
        return
    if a.suite == "ci":
        ci_suite(a, work)
        return
    if a.suite == "import":
        import_suite(a, work)
        return
    if a.suite == "dvc-in-place":
        dvc_in_place_suite(a, work)
        return
    if a.suite == "registry":
        registry_suite(a, work)
        return
    if a.suite == "drift":
        drift_suite(a, work)
        return
    if a.suite == "monitor":
        monitor_suite(a, work)
        fanout_suite(a, work)
        return
    if a.suite == "fanout":
        fanout_suite(a, work)
        return
    if a.suite == "experiments":
        experiments_suite(a, work)
        return
    nfiles, big_mib = (2000, 64) if a.quick else (20000, 1024)
    runs = a.runs or (3 if a.quick else 7)
    heavy_runs = a.runs or 3

    dvc_version = subprocess.run([a.dvc, "--version"], env=ENV, capture_output=True, text=True).stdout.strip()
    mlci_version = subprocess.run([a.mlci, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"workload: {nfiles} files of 1-8 KiB, one {big_mib} MiB file; {runs} runs each ({heavy_runs} for big adds)")
    print(f"tools: {mlci_version}, DVC {dvc_version}; {os.cpu_count()} CPUs", flush=True)
    src = generate(work, nfiles, big_mib)
    start_trash(work)
    tools = [Tool("mlci", a.mlci, work, src), Tool("dvc", a.dvc, work, src)]
    for t in tools:
        warm(t.repo)
    settle()

    results = []  # (name, {tool: seconds}, target ratio or None)

    def scenario(name, n, setup, args, target=None, keep_rss=False, warm_paths=lambda t: [], floor=None):
        times = {t.name: [] for t in tools}
        rss = {t.name: 0.0 for t in tools}
        floor_times = []
        for i in range(n):
            if floor:
                # The reference runs in the same loop, so it sees the same
                # machine state as the tools.
                os.sync()
                floor_times.append(floor())
            for t in (tools if i % 2 == 0 else tools[::-1]):
                setup(t)
                # Start every run with no dirty pages from the one before, and
                # with its inputs in the page cache: this kernel's DAMON
                # proactively evicts cold pages, so warm right before timing.
                os.sync()
                for p in warm_paths(t):
                    warm(os.path.join(t.repo, p))
                sec, mib = run(t.cmd(*args(t)), t.repo)
                times[t.name].append(sec)
                rss[t.name] = max(rss[t.name], mib)
        med = {k: median_of(v) for k, v in times.items()}
        if floor_times:
            med["floor"] = median_of(floor_times)
        results.append((name, med, target, rss if keep_rss else None))
        ratio = med["dvc"] / med["mlci"]
        print(f"  {name:<34} mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s   ratio {ratio:6.1f}x"
              + (f"   (target >= {target}x)" if target else ""), flush=True)
        return med, rss

    print("\nscenario                            (median seconds; ratio = dvc / mlci)")
    scenario(f"add {nfiles} small files", runs if a.quick else heavy_runs,
             lambda t: t.reset(), lambda t: ["add", "small"], target=10, warm_paths=lambda t: ["small"])
    big_src = os.path.join(src, "big.bin")

    def hash_plus_copy():
        warm(big_src)
        t1, _ = run(["openssl", "dgst", "-sha256", big_src], work)
        t2, _ = run(["cp", big_src, os.path.join(work, "copy.bin")], work)
        trash(os.path.join(work, "copy.bin"))
        return t1 + t2

    med_big, rss_big = scenario(f"add {big_mib} MiB file", heavy_runs,
                                lambda t: t.reset(), lambda t: ["add", "big.bin"], target=3, keep_rss=True,
                                warm_paths=lambda t: ["big.bin"], floor=hash_plus_copy)
    # Both tools now track both paths; make the state settle (first status
    # after an add may rehash files written moments before) and time no-ops.
    for t in tools:
        run(t.cmd("add", "small"), t.repo)
        run(t.cmd("status"), t.repo)
    scenario("no-op status", runs, lambda t: None, lambda t: ["status"], target=20)

    counter = [0]

    def touch_one(t):
        counter[0] += 1
        p = os.path.join(t.repo, "small", "d03", "e4", f"f{(3 + 20 * 4) % nfiles:05d}.bin")
        with open(p, "ab") as f:
            f.write(b"%d" % counter[0])
    scenario("status after modifying one file", runs, touch_one, lambda t: ["status"])

    def delete_small(t):
        trash(os.path.join(t.repo, "small"))
    scenario(f"checkout {nfiles} files after rm -rf", runs,
             delete_small, lambda t: ["checkout", "--force", "small"] if t.name == "mlci" else ["checkout", "--force", "small.dvc"], target=10,
             warm_paths=lambda t: [t.meta[0]])

    # Integrity: DVC has no cache check, so the peer is the floor of
    # hashing every cache file with coreutils (`sha256sum`, one process per
    # CPU), in the same run.
    m = tools[0]
    run(m.cmd("fsck"), m.repo)
    time.sleep(2.1)  # past the racy window, so the stat records can vouch
    run(m.cmd("fsck"), m.repo)
    fsck_t = median_of([run(m.cmd("fsck"), m.repo)[0] for _ in range(runs)])
    full_t = median_of([run(m.cmd("fsck", "--full"), m.repo)[0] for _ in range(heavy_runs)])
    hash_all = ["sh", "-c", f"find .mlci/cache/sha256 -type f -print0 | xargs -0 -P {os.cpu_count()} -n 1000 sha256sum >/dev/null"]
    sums_t = median_of([run(hash_all, m.repo)[0] for _ in range(heavy_runs)])
    print(f"\n  fsck of {nfiles + 2} objects: stat-trusted {fsck_t:.3f}s, --full {full_t:.3f}s;"
          f" parallel sha256sum of the cache {sums_t:.3f}s (--full / sha256sum = {full_t / sums_t:.2f})", flush=True)

    floor = med_big["floor"]
    print(f"\n  add {big_mib} MiB vs `openssl dgst -sha256` + `cp`: mlci {med_big['mlci']:.3f}s, floor {floor:.3f}s,"
          f" ratio {med_big['mlci'] / floor:.2f} (target <= 1.5)")
    print(f"  peak RSS while adding {big_mib} MiB: mlci {rss_big['mlci']:.1f} MiB, dvc {rss_big['dvc']:.1f} MiB"
          f" (target mlci < 100 MiB)")
    purge(TRASH[0])
    os.makedirs(TRASH[0])
    if a.suite == "all":
        pipelines(a, work)
        remotes(a, work)
        ci_suite(a, work)
        import_suite(a, work)
        registry_suite(a, work)
        drift_suite(a, work)
        monitor_suite(a, work)
        experiments_suite(a, work)


def pipeline_repo(work, name, tool, exe, files):
    """A git repository holding `files` (path -> text), set up for `tool`."""
    repo = os.path.join(work, f"pipe-{name}-{tool}")
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(repo)
    for rel, text in files.items():
        path = os.path.join(repo, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    sh("git init -q -b main", repo)
    if tool == "dvc":
        sh(f"{exe} init -q && {exe} config core.analytics false && {exe} config core.check_update false", repo)
    else:
        sh(f"{exe} init -q", repo)
    return repo


def generated_pipeline(n):
    """n stages in chains of 10: each reads its own input, the previous
    stage's output and one param; all of it in dvc.yaml, which both tools
    read (mlci takes its stages from dvc.yaml when mlci.yaml has none)."""
    files = {}
    lines = ["stages:"]
    params = ["stages:"]
    for i in range(n):
        files[f"data/in{i:03d}.txt"] = f"input {i}\n"
        params.append(f"  s{i:03d}: {i}")
        deps = [f"data/in{i:03d}.txt"] + ([f"out/o{i - 1:03d}.txt"] if i % 10 else [])
        lines += [f"  s{i:03d}:",
                  f"    cmd: mkdir -p out && cat {' '.join(deps)} > out/o{i:03d}.txt",
                  f"    deps: [{', '.join(deps)}]",
                  f"    params: [stages.s{i:03d}]",
                  f"    outs: [out/o{i:03d}.txt]"]
    files["dvc.yaml"] = "\n".join(lines) + "\n"
    files["params.yaml"] = "\n".join(params) + "\n"
    return files


def example_pipeline(mlci):
    """The built-in classifier example, with its mlci.yaml as dvc.yaml."""
    tmp = os.path.join(os.path.dirname(mlci), "bench-example")
    shutil.rmtree(tmp, ignore_errors=True)
    subprocess.run([mlci, "init", "-q", "--example", "classifier", tmp], check=True)
    files = {}
    for d, _, names in os.walk(tmp):
        if ".git" in d.split(os.sep) or ".mlci" in d.split(os.sep):
            continue
        for name in names:
            rel = os.path.relpath(os.path.join(d, name), tmp)
            with open(os.path.join(d, name)) as f:
                files["dvc.yaml" if rel == "mlci.yaml" else rel] = f.read()
    shutil.rmtree(tmp)
    # DVC rejects mlci's `gates:` (and the comment above it); its stages
    # stay the same.
    kept, skipping = [], False
    for line in files["dvc.yaml"].splitlines(keepends=True):
        top = line[:1] not in (" ", "-", "\n", "")
        if line.startswith("gates:"):
            skipping = True
        elif top and not line.startswith("#"):
            skipping = False
        if not skipping:
            kept.append(line)
    files["dvc.yaml"] = "".join(kept)
    return files


def pipelines(a, work):
    runs = a.runs or 5
    print("\npipelines                           (median seconds; ratio = dvc / mlci)", flush=True)
    exes = {"mlci": a.mlci, "dvc": a.dvc}
    for name, files in [("100-stage", generated_pipeline(100)), ("3-stage example", example_pipeline(a.mlci))]:
        repos = {t: pipeline_repo(work, name.split()[0], t, exes[t], files) for t in exes}
        for t, repo in repos.items():
            run([exes[t], "repro"], repo)
            run([exes[t], "status"], repo)
        for cmd in ["repro", "status"]:
            times = {t: [] for t in exes}
            for i in range(runs):
                for t in (["mlci", "dvc"] if i % 2 == 0 else ["dvc", "mlci"]):
                    times[t].append(run([exes[t], cmd], repos[t])[0])
            med = {t: median_of(v) for t, v in times.items()}
            print(f"  no-op {cmd:<6} {name:<22}  mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
                  f"   ratio {med['dvc'] / med['mlci']:6.1f}x   (target >= 20x)", flush=True)
    # Two independent one-second stages: -j 2 should take about one second.
    files = {"dvc.yaml": "stages:\n" + "".join(
        f"  {n}:\n    cmd: sleep 1 && echo {n} > {n}.txt\n    outs: [{n}.txt]\n" for n in ["a", "b"])}
    repo = pipeline_repo(work, "sleep", "mlci", a.mlci, files)
    t1 = median_of([run([a.mlci, "repro", "--force", "--no-run-cache", "-j", "1"], repo)[0] for _ in range(3)])
    t2 = median_of([run([a.mlci, "repro", "--force", "--no-run-cache", "-j", "2"], repo)[0] for _ in range(3)])
    print(f"  two independent `sleep 1` stages: mlci repro -j 1 {t1:.2f}s, -j 2 {t2:.2f}s (target about 1 s)")


def import_suite(a, work):
    """`mlci import-dvc` beside `dvc pull`: a DVC repository with 20,000
    small files pushed to a local DVC remote, and fresh clones without
    DVC's cache: DVC pulls the data, mlci imports it (remotes, objects
    checked against their MD5 and stored by SHA-256, pointers, checkout)."""
    nfiles = 2000 if a.quick else 20000
    runs = a.runs or 3
    src = generate(work, nfiles, 64 if a.quick else 1024)
    start_trash(work)
    base = os.path.join(work, f"import-{nfiles}")
    origin, remote = os.path.join(base, "origin"), os.path.join(base, "dvc-remote")
    if not os.path.exists(os.path.join(base, ".done")):
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(origin)
        sh("git init -q && git config user.email b@b && git config user.name bench", origin)
        run([a.dvc, "init", "-q"], origin)
        shutil.copytree(os.path.join(src, "small"), os.path.join(origin, "data"))
        run([a.dvc, "add", "-q", "data"], origin)
        run([a.dvc, "remote", "add", "-q", "-d", "store", remote], origin)
        run([a.dvc, "push", "-q"], origin)
        sh("git add -A && git commit -qm data", origin)
        open(os.path.join(base, ".done"), "w").close()
    print(f"\nimport                              ({nfiles} files from a local DVC remote; median seconds)", flush=True)
    times = {"mlci": [], "dvc": []}
    for i in range(runs):
        for t in (["mlci", "dvc"] if i % 2 == 0 else ["dvc", "mlci"]):
            clone = os.path.join(base, f"clone-{t}")
            if os.path.exists(clone):
                trash(clone)
            sh(f"git clone -q {origin} {clone}", base)
            if t == "mlci":
                run([a.mlci, "init", "-q"], clone)
                cmd = [a.mlci, "import-dvc"]
            else:
                cmd = [a.dvc, "pull", "-q"]
            os.sync()
            warm(remote)
            times[t].append(run(cmd, clone)[0])
    med = {t: median_of(v) for t, v in times.items()}
    print(f"  import-dvc vs dvc pull             mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
          f"   mlci / dvc {med['mlci'] / med['dvc']:5.2f}   (target <= 2)", flush=True)


def registry_repo(work, versions, artifacts, unrelated):
    """A repository with one registration tag per commit (`versions` commits
    over `artifacts` artifacts, 200 of them by default) and `unrelated`
    other annotated tags, written by git fast-import and packed as a clone
    has it."""
    repo = os.path.join(work, f"registry-{versions}")
    if os.path.exists(os.path.join(repo, ".done")):
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    os.makedirs(repo)
    sh("git init -q -b main", repo)
    out = []

    def data(text):
        b = text.encode()
        out.append(f"data {len(b)}\n{text}\n")
    decl = "artifacts:\n" + "".join(f"  a{j}:\n    path: model.pkl\n    type: model\n" for j in range(artifacts))
    decl += "metrics:\n  - metrics.json\n"
    t0 = 1767225600
    every = max(1, versions // unrelated) if unrelated else 0
    for i in range(versions):
        ts = t0 + i * 60
        out.append(f"commit refs/heads/main\nmark :{i + 1}\ncommitter bench <b@b> {ts} +0000\n")
        data(f"train {i}")
        if i:
            out.append(f"from :{i}\n")
        else:
            out.append("M 100644 inline dvc.yaml\n")
            data(decl)
        out.append("M 100644 inline metrics.json\n")
        data('{"auc": %.4f, "loss": %.4f}' % (0.5 + (i % 500) / 1000, 1 - (i % 500) / 1000))
        out.append("M 100644 inline model.pkl\n")
        data(f"model {i}")
        art, ver = i % artifacts, i // artifacts + 1
        out.append(f"tag a{art}@v0.0.{ver}\nfrom :{i + 1}\ntagger bench <b@b> {ts + 1} +0000\n")
        data(f"Registering artifact a{art} version v0.0.{ver}")
        if every and i % every == 0 and i // every < unrelated:
            out.append(f"tag release-{i // every}\nfrom :{i + 1}\ntagger bench <b@b> {ts + 2} +0000\n")
            data("a release")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, env=ENV, input="".join(out).encode(), check=True)
    sh("git pack-refs --all && git reset -q --hard main", repo)
    open(os.path.join(repo, ".done"), "w").close()
    return repo


def dvc_in_place_suite(a, work):
    """A DVC repository used in place (no `.mlci/`): `mlci status` and
    `repro` beside `dvc status` and `repro` on the same clone, after `dvc
    add` of 20,000 small files and `dvc repro` of a three-stage pipeline
    over them; no-op, and after one file changed; then `add` of the files
    and push and pull (`dvc_in_place_transfers`). Median of several runs,
    the tools alternating. Resets move files to the trash, never delete
    them (see the module doc): each tool's creates then pay for its own
    work, not for inodes the other tool's last reset freed."""
    nfiles = 2000 if a.quick else 20000
    runs = a.runs or 5
    start_trash(work)
    repo = os.path.join(work, f"dvc-in-place-{nfiles}")
    purge(repo)
    os.makedirs(os.path.join(repo, "data"))
    for i in range(nfiles):
        d = os.path.join(repo, "data", f"d{i % 100:02d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:05d}.txt"), "w") as f:
            f.write(f"row {i}\n" * (1 + i % 50))
    with open(os.path.join(repo, "params.yaml"), "w") as f:
        f.write("train:\n  lr: 0.1\n")
    with open(os.path.join(repo, "dvc.yaml"), "w") as f:
        f.write("stages:\n"
                "  count:\n    cmd: find data -type f | wc -l > count.txt\n    deps: [data]\n    outs: [count.txt]\n"
                "  train:\n    cmd: cat count.txt params.yaml > model.txt\n    deps: [count.txt]\n"
                "    params: [train.lr]\n    outs: [model.txt]\n"
                "  evaluate:\n    cmd: wc -c model.txt > metrics.txt\n    deps: [model.txt]\n    outs: [metrics.txt]\n")
    sh("git init -q -b main && " + a.dvc + " init -q && " + a.dvc + " add -q data && " + a.dvc + " repro -q"
       " && git add -A && git commit -qm data", repo)
    for cmd in ([a.mlci, "status"], [a.dvc, "status"]):
        run(cmd, repo)
    settle()
    print(f"\nDVC repository in place            ({nfiles} files tracked by data.dvc, 3 stages; median seconds)", flush=True)

    def scenario(label, before, target, command="status"):
        times = {"mlci": [], "dvc": []}
        for i in range(runs):
            for name, exe in ([("mlci", a.mlci), ("dvc", a.dvc)] if i % 2 == 0 else [("dvc", a.dvc), ("mlci", a.mlci)]):
                before()
                times[name].append(run([exe, command], repo)[0])
        med = {t: median_of(v) for t, v in times.items()}
        print(f"  {label:<34}mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s   ratio {med['dvc'] / med['mlci']:6.1f}x"
              + (f"   (target >= {target}x)" if target else ""), flush=True)

    scenario("no-op status", lambda: None, 30)
    scenario("no-op repro", lambda: None, 30, "repro")
    counter = [0]

    def touch_one():
        counter[0] += 1
        with open(os.path.join(repo, "data", "d03", "f00003.txt"), "a") as f:
            f.write(f"{counter[0]}\n")
    scenario("status after modifying one file", touch_one, None)

    # `add` of the 20,000 files from nothing (no cache, no state, no
    # pointer), each tool in turn on the same clone.
    def reset_add():
        for p in (".dvc/cache", ".dvc/tmp", "data.dvc", ".gitignore"):
            full = os.path.join(repo, p)
            if os.path.lexists(full):
                trash(full)
    times = {"mlci": [], "dvc": []}
    for i in range(min(runs, 3)):
        for name, exe in ([("mlci", a.mlci), ("dvc", a.dvc)] if i % 2 == 0 else [("dvc", a.dvc), ("mlci", a.mlci)]):
            reset_add()
            os.sync()
            times[name].append(run([exe, "add", "data"], repo)[0])
    med = {t: median_of(v) for t, v in times.items()}
    print(f"  {'add ' + str(nfiles) + ' small files':<34}mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
          f"   ratio {med['dvc'] / med['mlci']:6.1f}x   (target >= 8x)", flush=True)


    dvc_in_place_transfers(a, work, repo, nfiles, runs)


def dvc_in_place_transfers(a, work, repo, nfiles, runs):
    """Push and pull of the DVC repository's objects (the 20,000 files,
    their listing and the stage outputs) to a fresh directory remote and to
    SeaweedFS, `mlci` beside `dvc` on the same clone and the same remote
    defined in `.dvc/config` (DVC's layout on both sides); pull from an
    empty cache with the data removed. -j 16 for both; the tools alternate."""
    for p in (".dvc/cache", ".dvc/tmp"):
        if os.path.lexists(os.path.join(repo, p)):
            trash(os.path.join(repo, p))
    sh(a.dvc + " add -q data && " + a.dvc + " repro -q", repo)
    kinds = ["local"] + (["s3"] if a.s3_endpoint else [])
    serial = [0]
    for kind in kinds:
        t = {"push": {"mlci": [], "dvc": []}, "pull": {"mlci": [], "dvc": []}}
        for i in range(min(runs, 3)):
            for name, exe in ([("mlci", a.mlci), ("dvc", a.dvc)] if i % 2 == 0 else [("dvc", a.dvc), ("mlci", a.mlci)]):
                serial[0] += 1
                unique = f"dvc-in-place-{os.getpid()}-{serial[0]}"
                url = os.path.join(work, "remotes", unique) if kind == "local" else f"s3://mlci/{unique}"
                sh(f"{a.dvc} remote add -d -f store {url}", repo)
                if kind == "s3":
                    sh(f"{a.dvc} remote modify store endpointurl {a.s3_endpoint}"
                       f" && {a.dvc} remote modify --local store access_key_id {a.s3_key}"
                       f" && {a.dvc} remote modify --local store secret_access_key {a.s3_secret}", repo)
                os.sync()
                t["push"][name].append(run([exe, "push", "-j", "16"], repo)[0])
                keep = os.path.join(work, "dvc-cache-keep")
                os.rename(os.path.join(repo, ".dvc", "cache"), keep)
                trash(os.path.join(repo, "data"))
                if os.path.lexists(os.path.join(repo, ".dvc", "tmp")):
                    trash(os.path.join(repo, ".dvc", "tmp"))
                os.sync()
                t["pull"][name].append(run([exe, "pull", "-j", "16"], repo)[0])
                trash(os.path.join(repo, ".dvc", "cache"))
                os.rename(keep, os.path.join(repo, ".dvc", "cache"))
        if os.path.lexists(os.path.join(work, "remotes")):
            trash(os.path.join(work, "remotes"))
        where = "directory remote" if kind == "local" else "SeaweedFS"
        for k in ["push", "pull"]:
            med = {tool: median_of(v) for tool, v in t[k].items()}
            label = f"{k} {nfiles} files, {where}"
            print(f"  {label:<34}mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
                  f"   ratio {med['dvc'] / med['mlci']:6.1f}x   (target >= 3x)", flush=True)


def registry_suite(a, work):
    """`mlci model list` and `mlci model show NAME` beside `gto show` and
    `gto show NAME`: 10,000 registration tags over 200 artifacts, one per
    commit, and 5,000 unrelated tags; end to end, median of several runs."""
    if not a.gto:
        sys.exit("--gto is required for the registry suite (bench/run.sh installs GTO)")
    versions = 1000 if a.quick else 10000
    unrelated = versions // 2
    runs = a.runs or 5
    repo = registry_repo(work, versions, 200, unrelated)
    print(f"\nregistry                            ({versions} registry tags over 200 artifacts, {unrelated} other tags; median seconds)", flush=True)
    for label, ours, theirs in [
        ("model list vs gto show", ["model", "list"], ["show"]),
        ("model show a7 vs gto show a7", ["model", "show", "a7"], ["show", "a7"]),
    ]:
        times = {"mlci": [], "gto": []}
        gto_runs = min(runs, 3)  # GTO takes tens of seconds a run
        for i in range(runs):
            times["mlci"].append(run([a.mlci, *ours], repo)[0])
            if i < gto_runs:
                times["gto"].append(run([a.gto, *theirs], repo)[0])
        med = {t: median_of(v) for t, v in times.items()}
        print(f"  {label:<34}mlci {med['mlci']:8.3f}s   gto {med['gto']:8.3f}s"
              f"   gto / mlci {med['gto'] / med['mlci']:7.1f}   (target >= 20, mlci < 0.1 s)", flush=True)


def drift_suite(a, work):
    """`mlci drift` beside Evidently's DataDriftPreset (read both tables,
    compare, result), end to end: 1,000,000 rows x 20 columns of Parquet,
    and 200,000 rows of CSV. mlci's peak memory from wait4's rusage."""
    if not a.evidently_python:
        sys.exit("--evidently-python is required for the drift suite (bench/run.sh installs Evidently)")
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(work, "drift")
    os.makedirs(data, exist_ok=True)
    subprocess.run([a.evidently_python, os.path.join(here, "drift_data.py"), data], check=True)
    num = ",".join(f"n{i}" for i in range(10))
    cat = ",".join(f"c{i}" for i in range(10))
    runs = a.runs or 3
    print("\ndrift                               (median seconds; ratio = evidently / mlci)", flush=True)
    for label, ext in [("1M x 20 Parquet", "parquet"), ("200k x 20 CSV", "csv")]:
        ref, cur = os.path.join(data, f"ref.{ext}"), os.path.join(data, f"cur.{ext}")
        warm(data)
        ours, mem, theirs = [], [], []
        for i in range(runs):
            t, m = run([a.mlci, "drift", ref, cur], data)
            ours.append(t)
            mem.append(m)
            if i == 0 or a.quick:
                theirs.append(run([a.evidently_python, os.path.join(here, "evidently_drift.py"), ref, cur, num, cat],
                                  data)[0])
        mo, me = median_of(ours), median_of(theirs)
        print(f"  {label:<34}mlci {mo:8.3f}s ({max(mem):.0f} MiB)   evidently {me:8.3f}s   ratio {me / mo:6.1f}x"
              f"   (target >= 20x, mlci < 2 s, < 500 MiB)", flush=True)
    wide_drift(a, data, runs)


def wide_drift(a, data, runs):
    """Wide tables: 200,000 rows x 1,000 columns of Parquet (four numeric
    columns to one categorical). Evidently takes many minutes on the whole
    table, so it runs on a slice of the first 100 columns (both tools
    timed on the slice, and the slice time scaled by 10 beside mlci's
    whole-table time, which the printout says). With --wide-rows N, mlci
    alone also runs N x 1,000 (3,000,000 in the issue: within 4 GiB)."""
    here = os.path.dirname(os.path.abspath(__file__))
    gen = os.path.join(here, "wide_data.py")
    subprocess.run([a.evidently_python, gen, data, "200000", "1000"], check=True)
    ref, cur = (os.path.join(data, f"{s}-200000x1000.parquet") for s in ("ref", "cur"))
    slice_ref, slice_cur = (os.path.join(data, f"{s}-200000x1000-slice100.parquet") for s in ("ref", "cur"))
    for whole, part in [(ref, slice_ref), (cur, slice_cur)]:
        if not os.path.exists(part):
            subprocess.run([a.evidently_python, "-c",
                            "import sys, pyarrow.parquet as pq\n"
                            "t = pq.read_table(sys.argv[1], columns=[f.name for f in pq.read_schema(sys.argv[1])][:100])\n"
                            "pq.write_table(t, sys.argv[2])", whole, part], check=True)
    names = [f"n{i}" if i % 5 else f"c{i}" for i in range(100)]
    num = ",".join(n for n in names if n.startswith("n"))
    cat = ",".join(n for n in names if n.startswith("c"))
    warm(data)
    whole_t, whole_m = zip(*[run([a.mlci, "drift", ref, cur], data) for _ in range(runs)])
    slice_t = [run([a.mlci, "drift", slice_ref, slice_cur], data)[0] for _ in range(runs)]
    ev = run([a.evidently_python, os.path.join(here, "evidently_drift.py"), slice_ref, slice_cur, num, cat], data)[0]
    mw, ms = median_of(list(whole_t)), median_of(slice_t)
    print(f"  {'200k x 1000 Parquet (whole)':<34}mlci {mw:8.3f}s ({max(whole_m):.0f} MiB)   evidently {10 * ev:8.1f}s*  ratio {10 * ev / mw:6.1f}x"
          f"   (target >= 50x, mlci < 8 s, < 1 GiB)", flush=True)
    print(f"  {'200k x 100 Parquet (slice)':<34}mlci {ms:8.3f}s            evidently {ev:8.3f}s   ratio {ev / ms:6.1f}x", flush=True)
    print("  * Evidently timed on the 100-column slice, times 10 (the whole table takes it many minutes)", flush=True)
    if a.wide_rows:
        subprocess.run([a.evidently_python, gen, data, str(a.wide_rows), "1000"], check=True)
        big = [os.path.join(data, f"{s}-{a.wide_rows}x1000.parquet") for s in ("ref", "cur")]
        t, m = run([a.mlci, "drift", *big], data)
        print(f"  {f'{a.wide_rows} x 1000 Parquet':<34}mlci {t:8.3f}s ({m:.0f} MiB)   (target < 4 GiB)", flush=True)


def monitor_suite(a, work):
    """`mlci monitor --window day` beside pandas + scikit-learn doing the
    same (read, group by UTC day, accuracy/precision/recall/F1/ROC AUC per
    day), end to end, on a 10,000,000-row Parquet predictions log."""
    if not a.evidently_python:
        sys.exit("--evidently-python is required for the monitor suite (bench/run.sh installs scikit-learn there)")
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(work, "monitor")
    os.makedirs(data, exist_ok=True)
    subprocess.run([a.evidently_python, os.path.join(here, "monitor_data.py"), data], check=True)
    log = os.path.join(data, "predictions.parquet")
    runs = a.runs or 3
    warm(data)
    ours, mem, theirs = [], [], []
    for i in range(runs):
        t, m = run([a.mlci, "monitor", log, "--window", "day"], data)
        ours.append(t)
        mem.append(m)
        if i == 0:
            theirs.append(run([a.evidently_python, os.path.join(here, "sklearn_monitor.py"), log], data)[0])
    mo, mt = median_of(ours), median_of(theirs)
    print("\nmonitor                             (median seconds; ratio = pandas+sklearn / mlci)", flush=True)
    print(f"  10M rows, daily windows            mlci {mo:8.3f}s ({max(mem):.0f} MiB)   pandas+sklearn {mt:8.3f}s"
          f"   ratio {mt / mo:6.1f}x   (target >= 10x, mlci < 5 s, < 500 MiB)", flush=True)


def fanout_suite(a, work):
    """Eight independent stages of 2 s each: `mlci plan` + three local
    "runners" (clones running their share with `repro -s --pull --push`
    against a shared directory remote, in parallel) + the join (`repro
    --pull --restore-only` in a fourth clone), beside one `mlci repro -j 1`;
    and the fan-out's own overhead (plan + join with nothing to run)."""
    base = os.path.join(work, "fanout")
    shutil.rmtree(base, ignore_errors=True)
    origin = os.path.join(base, "origin")
    os.makedirs(origin)
    sh("git init -q -b main && git config user.email b@b && git config user.name bench", origin)
    run([a.mlci, "init", "-q"], origin)
    run([a.mlci, "remote", "add", "-d", "store", os.path.join(base, "remote")], origin)
    stages = "".join(f"  s{i}:\n    cmd: sleep 2 && echo {i} > out{i}.txt\n    deps: [in.txt]\n    outs: [out{i}.txt]\n"
                     for i in range(8))
    with open(os.path.join(origin, "mlci.yaml"), "w") as f:
        f.write("stages:\n" + stages)
    with open(os.path.join(origin, "in.txt"), "w") as f:
        f.write("x\n")
    sh("git add -A && git commit -qm pipeline", origin)
    for name in ["alone", "r0", "r1", "r2", "join"]:
        sh(f"git clone -q origin {name}", base)
    t_alone = run([a.mlci, "repro", "-j", "1"], os.path.join(base, "alone"))[0]
    start = time.perf_counter()
    run([a.mlci, "plan", "--json"], os.path.join(base, "r0"))
    shares = [[f"s{i}" for i in range(8) if i % 3 == r] for r in range(3)]
    procs = []
    for r, share in enumerate(shares):
        args = [a.mlci, "repro", "--pull", "--push"] + [x for s in share for x in ("-s", s)]
        procs.append(subprocess.Popen(args, cwd=os.path.join(base, f"r{r}"), env=ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for p in procs:
        if p.wait() != 0:
            sys.exit("a fan-out runner failed")
    run([a.mlci, "repro", "--pull", "--restore-only"], os.path.join(base, "join"))
    t_fan = time.perf_counter() - start
    # The overhead alone: plan and join again, nothing left to run.
    t_plan = run([a.mlci, "plan", "--json"], os.path.join(base, "join"))[0]
    t_join = run([a.mlci, "repro", "--pull", "--restore-only"], os.path.join(base, "join"))[0]
    print("\nfanout                              (8 independent stages of 2 s; seconds)", flush=True)
    print(f"  plan + 3 runners + join            {t_fan:8.3f}s   repro -j 1 {t_alone:8.3f}s"
          f"   share {t_fan / t_alone:5.2f}   (target <= 0.45)", flush=True)
    print(f"  overhead: plan + join, nothing     {t_plan + t_join:8.3f}s   (plan {t_plan:.3f}s, join {t_join:.3f}s;"
          f" target < 0.2 s)", flush=True)


def experiments_suite(a, work):
    """Experiments in a DVC repository holding the built-in example: 16
    variants (4 learning rates x 4 epoch counts) queued and run on 3 local
    workers, `mlci exp run --queue` + `mlci exp run --run-all -j 3` beside
    `dvc exp run --queue` + `dvc exp run --run-all -j 3` (DVC's celery
    queue, as `dvc queue start -j 3`, waited for), each on its own copy of
    the same repository; then `exp show` of 1,000 experiments (refs made
    with `git fast-import`), mlci beside DVC."""
    base = os.path.join(work, "experiments")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    files = example_pipeline(a.mlci)
    origin = pipeline_repo(base, "exp", "dvc", a.dvc, files)
    sh(f"{a.dvc} repro -q && git add -A && git commit -qm baseline", origin)
    sets = ["-S", "train.lr=0.05,0.1,0.2,0.3", "-S", "train.epochs=20,30,50,60"]
    times = {}
    for name, exe in [("mlci", a.mlci), ("dvc", a.dvc)]:
        repo = os.path.join(base, f"variants-{name}")
        shutil.copytree(origin, repo, symlinks=True)
        start = time.perf_counter()
        run([exe, "exp", "run", "--queue"] + sets, repo)
        run([exe, "exp", "run", "--run-all", "-j", "3"], repo)
        times[name] = time.perf_counter() - start
        listed = subprocess.run(["git", "for-each-ref", "refs/exps/"], cwd=repo, capture_output=True, text=True).stdout
        count = sum(1 for line in listed.splitlines() if line.count("/") == 4)
        if count != 16:
            sys.exit(f"{name} recorded {count} experiments, not 16")
    print("\nexperiments                         (the example pipeline, DVC repository; seconds)", flush=True)
    print(f"  16 variants on 3 workers           mlci {times['mlci']:8.3f}s   dvc {times['dvc']:8.3f}s"
          f"   share {times['mlci'] / times['dvc']:5.2f}   (target <= 0.40)", flush=True)
    # 1,000 experiments on one baseline, each its own params and metrics.
    repo = os.path.join(base, "variants-mlci")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    stream = []
    for i in range(1000):
        params = files["params.yaml"].replace("lr: 0.1", f"lr: {0.001 * (i + 1):.3f}")
        metrics = f'{{"accuracy": {0.5 + i / 4000:.6f}, "loss": {1 - i / 2000:.6f}}}'
        ref = f"refs/exps/{head[:2]}/{head[2:]}/bench-{i}"
        stream.append(f"commit {ref}\ncommitter bench <bench@mlci.invalid> {1700000000 + i} +0000\n"
                      f"data 11\nexperiment\nfrom {head}\n"
                      f"M 100644 inline params.yaml\ndata {len(params.encode())}\n{params}\n"
                      f"M 100644 inline eval/metrics.json\ndata {len(metrics)}\n{metrics}\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input="".join(stream), text=True, check=True)
    show = [run([a.mlci, "exp", "show", "--json"], repo)[0] for _ in range(5)]
    theirs = run([a.dvc, "exp", "show", "--json"], repo)[0]
    ms = median_of(show)
    print(f"  exp show, 1,016 experiments        mlci {ms:8.3f}s   dvc {theirs:8.3f}s"
          f"   ratio {theirs / ms:6.1f}x   (target mlci < 0.1 s)", flush=True)


def remotes(a, work):
    """Push and pull of the small files and of the big file, to a local
    directory remote and to SeaweedFS, mlci beside DVC (+ dvc-s3) and, on
    S3, rclone on the same files as the server's practical floor."""
    nfiles, big_mib = (2000, 64) if a.quick else (20000, 1024)
    runs = a.runs or 3
    jobs = "16"
    src = generate(work, nfiles, big_mib)
    start_trash(work)
    exes = {"mlci": a.mlci, "dvc": a.dvc}
    print(f"\nremotes: {nfiles} files of 1-8 KiB and one {big_mib} MiB file; -j {jobs} for both tools;"
          f" median of {runs}; ratio = dvc / mlci", flush=True)
    s3 = f":s3,provider=SeaweedFS,endpoint='{a.s3_endpoint}',access_key_id={a.s3_key},secret_access_key={a.s3_secret}:mlci"
    serial = [0]

    def fresh_url(kind, tool):
        serial[0] += 1
        name = f"bench-{tool}-{os.getpid()}-{serial[0]}"
        return os.path.join(work, "remotes", name) if kind == "local" else f"s3://mlci/{name}"

    def configure(tool, repo, kind, url):
        exe = exes[tool]
        if tool == "mlci":
            sh(f"{exe} -q remote add -d -f store {url}", repo)
            if kind == "s3":
                sh(f"{exe} -q remote modify store endpoint {a.s3_endpoint}"
                   f" && {exe} -q remote modify store access_key_id {a.s3_key} --local"
                   f" && {exe} -q remote modify store secret_access_key {a.s3_secret} --local", repo)
        else:
            sh(f"{exe} remote add -d -f store {url}", repo)
            if kind == "s3":
                sh(f"{exe} remote modify store endpointurl {a.s3_endpoint}"
                   f" && {exe} remote modify --local store access_key_id {a.s3_key}"
                   f" && {exe} remote modify --local store secret_access_key {a.s3_secret}", repo)

    for label, path in [(f"{nfiles} files", "small"), (f"{big_mib} MiB file", "big.bin")]:
        repos = {}
        for tool, exe in exes.items():
            repo = os.path.join(work, f"remote-{tool}-{path}")
            if os.path.exists(repo):
                trash(repo)
            os.makedirs(repo)
            sh(f"git init -q -b main && cp -r {src}/{path} .", repo)
            if tool == "dvc":
                sh(f"{exe} init -q && {exe} config core.analytics false && {exe} config core.check_update false", repo)
            else:
                sh(f"{exe} init -q", repo)
            run([exe, "add", path], repo)
            repos[tool] = repo
        target = {"mlci": path, "dvc": f"{path}.dvc"}
        cache = {"mlci": ".mlci/cache", "dvc": ".dvc/cache"}
        for kind in ["local", "s3"]:
            settle()
            t = {k: {tool: [] for tool in exes} for k in ["push", "noop", "gc", "pull"]}
            floor = {"push": [], "pull": []}
            for i in range(runs):
                for tool in (["mlci", "dvc"] if i % 2 == 0 else ["dvc", "mlci"]):
                    repo, exe = repos[tool], exes[tool]
                    configure(tool, repo, kind, fresh_url(kind, tool))
                    os.sync()
                    warm(os.path.join(repo, cache[tool]))
                    t["push"][tool].append(run([exe, "push", "-j", jobs, target[tool]], repo)[0])
                    t["noop"][tool].append(run([exe, "push", "-j", jobs, target[tool]], repo)[0])
                    # Remote gc with everything referenced: the listing and
                    # the decision, beside DVC's `gc --cloud` (which also
                    # collects its local cache, here with nothing to drop).
                    gc = (["gc", "--remote", "store", "--workspace", "--grace", "0s", "-j", jobs] if tool == "mlci"
                          else ["gc", "-w", "-c", "-f", "-j", jobs])
                    t["gc"][tool].append(run([exe, *gc], repo)[0])
                    # The other machine: no workspace copy, an empty cache.
                    trash(os.path.join(repo, path))
                    keep = os.path.join(work, "cache-keep")
                    os.rename(os.path.join(repo, cache[tool]), keep)
                    os.sync()
                    t["pull"][tool].append(run([exe, "pull", "-j", jobs, target[tool]], repo)[0])
                    # Back to the pushed state for the next round.
                    trash(os.path.join(repo, cache[tool]))
                    os.rename(keep, os.path.join(repo, cache[tool]))
                if kind == "s3" and a.rclone:
                    dest = f"{s3}/rclone-{os.getpid()}-{i}/{path}"
                    flags = ["--transfers", jobs, "--checkers", jobs, "--s3-upload-concurrency", "4"]
                    warm(os.path.join(src, path))
                    copy = "copy" if path == "small" else "copyto"
                    floor["push"].append(run([a.rclone, copy, os.path.join(src, path), dest, *flags], work)[0])
                    back = os.path.join(work, f"rclone-back-{i}")
                    os.sync()
                    floor["pull"].append(run([a.rclone, copy, dest, back if path == "small" else back + ".bin", *flags], work)[0])
                    trash(back if path == "small" else back + ".bin")
            # Free the disk before the next block (1 GiB per remote, per
            # pulled copy and per trashed cache add up): untimed.
            purge(TRASH[0])
            os.makedirs(TRASH[0])
            purge(os.path.join(work, "remotes"))
            if kind == "s3" and a.rclone:
                subprocess.run([a.rclone, "delete", "--transfers", "32", "--checkers", "32", s3], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for k, what in [("push", "push"), ("noop", "no-op push"), ("gc", "remote gc"), ("pull", "pull")]:
                med = {tool: median_of(v) for tool, v in t[k].items()}
                line = (f"  {what:<10} {label:<14} {kind:<5}  mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
                        f"   ratio {med['dvc'] / med['mlci']:6.1f}x")
                if k in floor and floor[k]:
                    f = median_of(floor[k])
                    line += f"   rclone {f:8.3f}s  mlci/rclone {med['mlci'] / f:5.2f}"
                print(line, flush=True)
            noop = median_of(t["noop"]["mlci"])
            first = median_of(t["push"]["mlci"])
            print(f"  mlci no-op push vs first push ({label}, {kind}): {first / noop:.0f}x faster (target >= 20x)", flush=True)
    purge(TRASH[0])
    purge(os.path.join(work, "remotes"))


def ci_suite(a, work):
    """`mlci ci` on the example with nothing stale, beside the local part
    of a DVC + CML job (`dvc repro` then `dvc metrics diff --md`); and the
    action's prebuilt install (download + verify, from a local server)
    beside `pip install dvc` into a fresh venv from a warm pip cache."""
    runs = a.runs or 5
    print("\nci                                  (median seconds; ratio = dvc / mlci)", flush=True)
    files = example_pipeline(a.mlci)
    mlci_files = dict(files)
    del mlci_files["dvc.yaml"]
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "templates", "examples", "classifier", "mlci.yaml")) as f:
        mlci_files["mlci.yaml"] = f.read()
    repos = {"mlci": pipeline_repo(work, "ci", "mlci", a.mlci, mlci_files),
             "dvc": pipeline_repo(work, "ci", "dvc", a.dvc, files)}
    exes = {"mlci": a.mlci, "dvc": a.dvc}
    for t, repo in repos.items():
        run([exes[t], "repro"], repo)
        sh("git add -A && git commit -q -m base", repo)
    times = {t: [] for t in exes}
    for i in range(runs):
        for t in (["mlci", "dvc"] if i % 2 == 0 else ["dvc", "mlci"]):
            repo = repos[t]
            if t == "mlci":
                times[t].append(run([a.mlci, "ci"], repo, check=False)[0])
            else:
                t1 = run([a.dvc, "repro"], repo)[0]
                t2 = run([a.dvc, "metrics", "diff", "HEAD", "--md"], repo)[0]
                times[t].append(t1 + t2)
    med = {t: median_of(v) for t, v in times.items()}
    print(f"  ci, nothing stale (example)         mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
          f"   ratio {med['dvc'] / med['mlci']:6.1f}x   (target >= 10x; dvc = repro + metrics diff --md)", flush=True)

    # A scheduled retraining run with nothing new: mlci retrain (repro,
    # fetch of the base branch, comparison; no push, no API call) beside
    # the local part of a DVC + CML cron job (dvc repro, git fetch, and
    # git status to see whether there is anything to propose).
    for t, repo in repos.items():
        origin = os.path.join(work, f"ci-origin-{t}.git")
        shutil.rmtree(origin, ignore_errors=True)
        sh(f"git clone -q --bare . {origin} && (git remote remove origin 2>/dev/null || true)"
           f" && git remote add origin {origin} && git fetch -q origin", repo)
    times = {t: [] for t in exes}
    for i in range(runs):
        for t in (["mlci", "dvc"] if i % 2 == 0 else ["dvc", "mlci"]):
            repo = repos[t]
            if t == "mlci":
                times[t].append(run([a.mlci, "retrain", "--default-branch", "main"], repo)[0])
            else:
                t1 = run([a.dvc, "repro"], repo)[0]
                t2 = run(["git", "fetch", "-q", "origin", "main"], repo)[0]
                t3 = run(["git", "status", "--porcelain"], repo)[0]
                times[t].append(t1 + t2 + t3)
    med = {t: median_of(v) for t, v in times.items()}
    print(f"  retrain, nothing new (example)      mlci {med['mlci']:8.3f}s   dvc {med['dvc']:8.3f}s"
          f"   ratio {med['dvc'] / med['mlci']:6.1f}x   (target mlci < 0.1 s; dvc = repro + git fetch + git status)",
          flush=True)

    # The action's install path against a local release server.
    rel = os.path.join(work, "release")
    shutil.rmtree(rel, ignore_errors=True)
    version = "0.0.0-bench"
    os.makedirs(os.path.join(rel, f"v{version}"))
    asset = os.path.join(rel, f"v{version}", "mlci-x86_64-unknown-linux-musl")
    shutil.copy(a.mlci, asset)
    digest = subprocess.run(["sha256sum", asset], capture_output=True, text=True).stdout.split()[0]
    with open(asset + ".sha256", "w") as f:
        f.write(f"{digest}  mlci-x86_64-unknown-linux-musl\n")
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", rel], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        inst, pip = [], []
        for i in range(3):
            cache = os.path.join(work, f"toolcache-{i}")
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            env = dict(ENV, MLCI_VERSION=version, ACTION_PATH=root, MLCI_RELEASES=f"http://127.0.0.1:{port}",
                       RUNNER_OS="Linux", RUNNER_ARCH="X64", RUNNER_TEMP=cache, RUNNER_TOOL_CACHE=cache,
                       GITHUB_PATH=os.path.join(cache, "path"))
            start = time.perf_counter()
            subprocess.run(["bash", os.path.join(root, "scripts", "action-install.sh")], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            inst.append(time.perf_counter() - start)
            venv = os.path.join(work, f"pipvenv-{i}")
            shutil.rmtree(venv, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
            subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
                            "dvc==3.*"], check=True, env=ENV)
            pip.append(time.perf_counter() - start)
            shutil.rmtree(venv, ignore_errors=True)
            shutil.rmtree(cache, ignore_errors=True)
        mi, mp = median_of(inst), median_of(pip)
        print(f"  install: action prebuilt path       mlci {mi:8.3f}s   pip install dvc (warm cache) {mp:8.3f}s"
              f"   ratio {mp / mi:6.1f}x", flush=True)
    finally:
        server.kill()
        shutil.rmtree(rel, ignore_errors=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    main()
