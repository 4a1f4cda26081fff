//! A GitHub Actions runner for the subset the shipped workflows use, so
//! each file in `docs/workflows/` runs in the suite exactly as a user
//! copies it: the trigger's filters (branches, tags and paths globs,
//! `workflow_run`'s workflow names), jobs in `needs` order with their
//! `if:`, outputs and `needs.*` context, steps with `id`, `if:`
//! (`success()`, `failure()`, `always()`), `env:`, `with:`, `run:` under
//! bash `-eo pipefail`, `GITHUB_OUTPUT` / `GITHUB_PATH`, and `${{ }}`
//! expressions (contexts, literals, `==`, `!=`, `&&`, `||`, `!`,
//! `toJSON`). `uses: mlci-dev/mlci@…` runs this checkout's `action.yml`
//! as a composite action (its install step is replaced by the binary
//! under test on PATH: `action.rs` tests the install script itself).
//! The other actions are stand-ins with the documented behaviour:
//! checkout clones the test's `origin` (shallow unless `fetch-depth: 0`,
//! a local branch for a branch push, detached otherwise), the artifact
//! pair copies through the runner's directory, and the app-token action
//! returns a fixed token.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use serde_yaml::Value as Yaml;

use crate::common::BIN;

/// One event delivered to a repository whose `origin` is a bare git
/// repository, with the GitHub API at `api`.
pub struct Runner {
    pub dir: tempfile::TempDir,
    pub origin: PathBuf,
    pub api: String,
    pub repository: String,
    pub secrets: BTreeMap<String, String>,
    /// Extra environment for every step (a remote's settings).
    pub env: BTreeMap<String, String>,
    /// Directories put first on PATH (stand-ins for tools such as docker).
    pub path_prefix: Vec<PathBuf>,
}

/// A finished job: its conclusion, outputs and each step's outcome.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub conclusion: String,
    pub outputs: BTreeMap<String, String>,
    /// (step name, `success` / `failure` / `skipped`), in order.
    pub steps: Vec<(String, String)>,
    pub workspace: PathBuf,
}

/// The GitHub token the runner hands out as `github.token`.
pub const WORKFLOW_TOKEN: &str = "ghs_workflowToken0123456789abcdef";
/// The token the app-token stand-in returns.
pub const APP_TOKEN: &str = "ghs_appToken0123456789abcdef0123";

impl Runner {
    pub fn new(origin: &Path, api: &str, repository: &str) -> Runner {
        Runner {
            dir: tempfile::tempdir().unwrap(),
            origin: origin.to_path_buf(),
            api: api.into(),
            repository: repository.into(),
            secrets: BTreeMap::new(),
            env: BTreeMap::new(),
            path_prefix: Vec::new(),
        }
    }

    /// Runs `docs/workflows/NAME` for `event` with `payload` and the
    /// commit `sha` / ref `git_ref`: None when its trigger does not match,
    /// else each job by name (a job whose `if:` was false: `skipped`).
    pub fn run(
        &self,
        name: &str,
        event: &str,
        payload: &Value,
        (sha, git_ref): (&str, &str),
    ) -> Option<BTreeMap<String, JobRun>> {
        let file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/workflows")
            .join(name);
        let text = std::fs::read_to_string(&file).unwrap();
        self.run_text(name, &text, event, payload, (sha, git_ref))
    }

    /// Like [`Runner::run`], for a workflow's text (a shipped one as a
    /// user configured it).
    pub fn run_text(
        &self,
        name: &str,
        text: &str,
        event: &str,
        payload: &Value,
        (sha, git_ref): (&str, &str),
    ) -> Option<BTreeMap<String, JobRun>> {
        let wf: Yaml = serde_yaml::from_str(text).unwrap();
        if !self.triggered(&wf, event, payload, git_ref) {
            return None;
        }
        let run_dir = self.dir.path().join(format!("run-{}", unique()));
        std::fs::create_dir_all(&run_dir).unwrap();
        let event_path = run_dir.join("event.json");
        std::fs::write(&event_path, payload.to_string()).unwrap();
        let github = json!({
            "event": payload, "event_name": event, "sha": sha, "ref": git_ref,
            "token": WORKFLOW_TOKEN, "api_url": self.api, "repository": self.repository,
            "server_url": "https://github.example", "run_id": "4242",
            "workflow": wf["name"].as_str().unwrap_or(name),
            "action_path": env!("CARGO_MANIFEST_DIR"), "action_repository": "mlci-dev/mlci",
        });
        let mut done: BTreeMap<String, JobRun> = BTreeMap::new();
        let jobs = wf["jobs"].as_mapping().unwrap();
        while done.len() < jobs.len() {
            let (id, job) = jobs
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), v))
                .find(|(k, v)| {
                    !done.contains_key(k) && needs(v).iter().all(|n| done.contains_key(n))
                })
                .expect("a job whose needs are met");
            let needs_ctx: serde_json::Map<String, Value> = needs(job)
                .iter()
                .map(|n| {
                    let j = &done[n];
                    (
                        n.clone(),
                        json!({"outputs": j.outputs, "result": j.conclusion}),
                    )
                })
                .collect();
            let needs_failed = needs(job).iter().any(|n| done[n].conclusion != "success");
            let ctx = json!({"github": github, "needs": needs_ctx, "secrets": self.secrets,
                             "steps": {}, "matrix": null, "env": {}});
            let cond = job["if"].as_str().unwrap_or("success()");
            let job_run = if eval_if(cond, &ctx, needs_failed) {
                self.job(&id, job, ctx, &run_dir, &event_path)
            } else {
                JobRun {
                    conclusion: "skipped".into(),
                    outputs: BTreeMap::new(),
                    steps: Vec::new(),
                    workspace: PathBuf::new(),
                }
            };
            done.insert(id, job_run);
        }
        Some(done)
    }

    fn triggered(&self, wf: &Yaml, event: &str, payload: &Value, git_ref: &str) -> bool {
        let on = &wf["on"];
        let Some(filters) = on.get(event) else {
            return false;
        };
        let list = |k: &str| -> Option<Vec<String>> {
            filters
                .get(k)
                .and_then(Yaml::as_sequence)
                .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        };
        let any = |globs: &[String], s: &str| globs.iter().any(|g| glob(g).is_match(s));
        match event {
            "push" => {
                if let Some(b) = git_ref.strip_prefix("refs/heads/") {
                    if list("tags").is_some() && list("branches").is_none() {
                        return false;
                    }
                    if list("branches").is_some_and(|g| !any(&g, b)) {
                        return false;
                    }
                }
                if let Some(t) = git_ref.strip_prefix("refs/tags/") {
                    match list("tags") {
                        Some(g) => return any(&g, t),
                        None if list("branches").is_some() => return false,
                        None => {}
                    }
                }
                if let Some(paths) = list("paths") {
                    let changed = crate::common::git_bare(
                        &self.origin,
                        &[
                            "diff",
                            "--name-only",
                            payload["before"].as_str().unwrap(),
                            payload["after"].as_str().unwrap(),
                        ],
                    );
                    return changed.lines().any(|f| any(&paths, f));
                }
                true
            }
            "workflow_run" => list("workflows").is_some_and(|w| {
                w.iter()
                    .any(|n| payload["workflow_run"]["name"].as_str() == Some(n))
            }),
            _ => true,
        }
    }

    fn job(&self, id: &str, job: &Yaml, mut ctx: Value, run_dir: &Path, event: &Path) -> JobRun {
        let workspace = run_dir.join(format!("{id}-workspace"));
        let home = run_dir.join(format!("{id}-home"));
        let temp = run_dir.join(format!("{id}-temp"));
        for d in [&workspace, &home, &temp] {
            std::fs::create_dir_all(d).unwrap();
        }
        let bin_dir = Path::new(BIN).parent().unwrap().to_path_buf();
        let mut base_env: BTreeMap<String, String> = self.env.clone();
        for (k, v) in [
            ("GITHUB_ACTIONS", "true".to_string()),
            ("CI", "true".into()),
            (
                "GITHUB_EVENT_NAME",
                ctx["github"]["event_name"].as_str().unwrap().into(),
            ),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
            ("GITHUB_SHA", ctx["github"]["sha"].as_str().unwrap().into()),
            ("GITHUB_REF", ctx["github"]["ref"].as_str().unwrap().into()),
            ("GITHUB_REPOSITORY", self.repository.clone()),
            ("GITHUB_API_URL", self.api.clone()),
            ("GITHUB_SERVER_URL", "https://github.example".into()),
            ("GITHUB_RUN_ID", "4242".into()),
            (
                "GITHUB_WORKFLOW",
                ctx["github"]["workflow"].as_str().unwrap().into(),
            ),
            ("GITHUB_JOB", id.into()),
            ("GITHUB_WORKSPACE", workspace.display().to_string()),
            (
                "GITHUB_STEP_SUMMARY",
                run_dir
                    .join(format!("{id}-summary.md"))
                    .display()
                    .to_string(),
            ),
            ("RUNNER_TEMP", temp.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("HOME", home.display().to_string()),
            ("GIT_CONFIG_NOSYSTEM", "1".into()),
            ("MLCI_GITHUB_MAX_WAIT", "3".into()),
            ("NO_COLOR", "1".into()),
        ] {
            base_env.insert(k.into(), v);
        }
        let mut path_var = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap());
        for p in &self.path_prefix {
            path_var = format!("{}:{path_var}", p.display());
        }
        let mut failed = false;
        let mut steps = Vec::new();
        for (i, step) in job["steps"].as_sequence().unwrap().iter().enumerate() {
            let name = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .or(step["run"].as_str())
                .unwrap()
                .to_string();
            let cond = step["if"].as_str().unwrap_or("success()");
            if !eval_if(cond, &ctx, failed) {
                steps.push((name, "skipped".into()));
                continue;
            }
            let mut env = base_env.clone();
            env.extend(eval_map(&step["env"], &ctx));
            env.insert("PATH".into(), path_var.clone());
            let output = run_dir.join(format!("{id}-{i}-output"));
            let gh_path = run_dir.join(format!("{id}-{i}-path"));
            std::fs::write(&output, "").unwrap();
            std::fs::write(&gh_path, "").unwrap();
            env.insert("GITHUB_OUTPUT".into(), output.display().to_string());
            env.insert("GITHUB_PATH".into(), gh_path.display().to_string());
            let with = eval_map(&step["with"], &ctx);
            let ok = match (step["uses"].as_str(), step["run"].as_str()) {
                (_, Some(script)) => bash(&interpolate(script, &ctx), &env, &workspace),
                (Some(u), None) => self.uses(u, &with, &env, (&workspace, &ctx, &output)),
                _ => panic!("a step with neither `run` nor `uses`"),
            };
            let outs = read_outputs(&output);
            if let Some(sid) = step["id"].as_str() {
                ctx["steps"][sid] =
                    json!({"outputs": outs, "outcome": if ok {"success"} else {"failure"}});
            }
            for p in std::fs::read_to_string(&gh_path).unwrap().lines() {
                path_var = format!("{p}:{path_var}");
            }
            failed |= !ok;
            steps.push((name, if ok { "success" } else { "failure" }.into()));
        }
        JobRun {
            conclusion: if failed { "failure" } else { "success" }.into(),
            outputs: eval_map(&job["outputs"], &ctx),
            steps,
            workspace,
        }
    }

    /// A `uses:` step; true when it succeeded.
    fn uses(
        &self,
        action: &str,
        with: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        (workspace, ctx, output): (&Path, &Value, &Path),
    ) -> bool {
        let (name, _version) = action.split_once('@').unwrap();
        let arg = |k: &str| with.get(k).cloned().unwrap_or_default();
        match name {
            "actions/checkout" => self.checkout(workspace, &arg("ref"), &arg("fetch-depth"), ctx),
            "actions/create-github-app-token" => {
                std::fs::write(output, format!("token={APP_TOKEN}\n")).unwrap();
                true
            }
            "actions/upload-artifact" => {
                let from = workspace.join(arg("path"));
                let to = self.dir.path().join("artifacts").join(arg("name"));
                copy_dir(&from, &to)
            }
            "actions/download-artifact" => {
                let from = self.dir.path().join("artifacts").join(arg("name"));
                copy_dir(&from, &workspace.join(arg("path")))
            }
            "mlci-dev/mlci" => self.composite(with, env, (workspace, ctx, output)),
            other => panic!("the runner has no stand-in for {other}"),
        }
    }

    fn checkout(&self, workspace: &Path, wanted: &str, depth: &str, ctx: &Value) -> bool {
        let git = |args: &[&str]| crate::common::git_in(workspace, args);
        let origin = format!("file://{}", self.origin.display());
        git(&["init", "-q"]);
        git(&["remote", "add", "origin", &origin]);
        let git_ref = ctx["github"]["ref"].as_str().unwrap();
        let sha = if wanted.is_empty() {
            ctx["github"]["sha"].as_str().unwrap().to_string()
        } else {
            wanted.to_string()
        };
        if depth == "0" {
            git(&[
                "fetch",
                "-q",
                "--tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ]);
        } else {
            git(&["fetch", "-q", "--no-tags", "--depth=1", "origin", &sha]);
        }
        match git_ref
            .strip_prefix("refs/heads/")
            .filter(|_| wanted.is_empty())
        {
            Some(branch) => git(&["checkout", "-q", "-B", branch, &sha]),
            None => git(&["checkout", "-q", "--detach", &sha]),
        };
        true
    }

    /// This checkout's `action.yml` as a composite action.
    fn composite(
        &self,
        with: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        (workspace, ctx, output): (&Path, &Value, &Path),
    ) -> bool {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("action.yml");
        let action: Yaml = serde_yaml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let mut inputs = serde_json::Map::new();
        for (k, spec) in action["inputs"].as_mapping().unwrap() {
            let k = k.as_str().unwrap();
            let v = match with.get(k) {
                Some(v) => v.clone(),
                None => interpolate(spec["default"].as_str().unwrap_or(""), ctx),
            };
            inputs.insert(k.into(), json!(v));
        }
        let unknown: Vec<&String> = with.keys().filter(|k| !inputs.contains_key(*k)).collect();
        assert!(
            unknown.is_empty(),
            "inputs action.yml does not declare: {unknown:?}"
        );
        let mut actx =
            json!({"github": ctx["github"], "inputs": inputs, "steps": {}, "matrix": null});
        let mut ok = true;
        for step in action["runs"]["steps"].as_sequence().unwrap() {
            let script = step["run"].as_str().unwrap();
            if script.contains("action-install.sh") {
                continue; // the binary under test is on PATH
            }
            let mut step_env = env.clone();
            step_env.extend(eval_map(&step["env"], &actx));
            let dir = workspace.join(interpolate(
                step["working-directory"].as_str().unwrap_or("."),
                &actx,
            ));
            let step_output = workspace.with_extension(format!("composite-{}", unique()));
            std::fs::write(&step_output, "").unwrap();
            step_env.insert("GITHUB_OUTPUT".into(), step_output.display().to_string());
            ok = bash(script, &step_env, &dir);
            if let Some(id) = step["id"].as_str() {
                actx["steps"][id] = json!({"outputs": read_outputs(&step_output)});
            }
            if !ok {
                break; // the outputs are set on failure too
            }
        }
        let outs: Vec<String> = action["outputs"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, spec)| {
                let v = interpolate(spec["value"].as_str().unwrap(), &actx);
                format!("{}={v}", k.as_str().unwrap())
            })
            .collect();
        std::fs::write(output, outs.join("\n") + "\n").unwrap();
        ok
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

fn needs(job: &Yaml) -> Vec<String> {
    match &job["needs"] {
        Yaml::String(s) => vec![s.clone()],
        Yaml::Sequence(s) => s.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        _ => Vec::new(),
    }
}

/// Runs a `run:` script as the runner does: `bash --noprofile --norc -eo
/// pipefail`, the environment exactly `env`.
fn bash(script: &str, env: &BTreeMap<String, String>, dir: &Path) -> bool {
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    eprintln!(
        "--- step in {}\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

fn copy_dir(from: &Path, to: &Path) -> bool {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success()
}

/// `GITHUB_OUTPUT`'s `key=value` lines and `key<<DELIM` blocks.
fn read_outputs(file: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((k, delim)) = line.split_once("<<") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
            out.insert(k.to_string(), body.join("\n"));
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert(k.to_string(), v.to_string());
        }
    }
    out
}

/// A workflow glob: `*` matches anything but `/`, `**` anything.
fn glob(g: &str) -> regex::Regex {
    let mut re = String::from("^");
    let mut chars = g.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    regex::Regex::new(&(re + "$")).unwrap()
}

fn eval_map(y: &Yaml, ctx: &Value) -> BTreeMap<String, String> {
    y.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Yaml::String(s) => s.clone(),
                        Yaml::Number(n) => n.to_string(),
                        Yaml::Bool(b) => b.to_string(),
                        _ => String::new(),
                    };
                    (k.as_str().unwrap().to_string(), interpolate(&v, ctx))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A step's or job's `if:`: an expression with or without `${{ }}`; a
/// condition with no status function is ANDed with `success()`.
fn eval_if(cond: &str, ctx: &Value, failed: bool) -> bool {
    let expr = cond.trim().trim_start_matches("${{").trim_end_matches("}}");
    let status = ["success()", "failure()", "always()", "cancelled()"];
    let v = truthy(&Expr::new(expr, ctx, failed).or());
    if status.iter().any(|s| expr.contains(s)) {
        v
    } else {
        v && !failed
    }
}

/// `${{ expr }}` replaced by its value as text.
pub fn interpolate(s: &str, ctx: &Value) -> String {
    let re = regex::Regex::new(r"\$\{\{(.*?)\}\}").unwrap();
    re.replace_all(s, |c: &regex::Captures| {
        match Expr::new(&c[1], ctx, false).or() {
            Value::Null => String::new(),
            Value::String(s) => s,
            v => v.to_string(),
        }
    })
    .into_owned()
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// A recursive-descent evaluator over the expression's tokens.
struct Expr<'a> {
    tokens: Vec<String>,
    at: usize,
    ctx: &'a Value,
    failed: bool,
}

impl<'a> Expr<'a> {
    fn new(text: &str, ctx: &'a Value, failed: bool) -> Expr<'a> {
        let re =
            regex::Regex::new(r"'(?:[^']|'')*'|==|!=|&&|\|\||[!(),]|[A-Za-z0-9_.\-*]+").unwrap();
        Expr {
            tokens: re.find_iter(text).map(|m| m.as_str().to_string()).collect(),
            at: 0,
            ctx,
            failed,
        }
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }

    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.peek() == Some("||") {
            self.next();
            let r = self.and();
            v = if truthy(&v) { v } else { r };
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.cmp();
        while self.peek() == Some("&&") {
            self.next();
            let r = self.cmp();
            v = if truthy(&v) { r } else { v };
        }
        v
    }

    fn cmp(&mut self) -> Value {
        let v = self.unary();
        match self.peek() {
            Some(op @ ("==" | "!=")) => {
                let eq = op == "==";
                self.next();
                let r = self.unary();
                let text = |v: &Value| match v {
                    Value::String(s) => s.to_lowercase(),
                    v => v.to_string(),
                };
                Value::Bool((text(&v) == text(&r)) == eq)
            }
            _ => v,
        }
    }

    fn unary(&mut self) -> Value {
        if self.peek() == Some("!") {
            self.next();
            return Value::Bool(!truthy(&self.unary()));
        }
        if self.peek() == Some("(") {
            self.next();
            let v = self.or();
            self.next();
            return v;
        }
        let t = self.next();
        if let Some(s) = t.strip_prefix('\'') {
            return json!(s.trim_end_matches('\'').replace("''", "'"));
        }
        if self.peek() == Some("(") {
            self.next();
            let mut args = Vec::new();
            while self.peek() != Some(")") {
                args.push(self.or());
                if self.peek() == Some(",") {
                    self.next();
                }
            }
            self.next();
            return match t.as_str() {
                "success" => json!(!self.failed),
                "failure" => json!(self.failed),
                "always" => json!(true),
                "cancelled" => json!(false),
                "toJSON" => json!(serde_json::to_string_pretty(&args[0]).unwrap()),
                f => panic!("the runner has no function {f}"),
            };
        }
        match t.as_str() {
            "true" => return json!(true),
            "false" => return json!(false),
            "null" => return Value::Null,
            _ => {}
        }
        if let Ok(n) = t.parse::<f64>() {
            return json!(n);
        }
        t.split('.')
            .fold(self.ctx, |v, k| v.get(k).unwrap_or(&Value::Null))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_evaluate_as_github_does() {
        let ctx = json!({"needs": {"h": {"outputs": {"event": "assignment", "stage": "prod"}}},
                         "steps": {"a": {"outputs": {"token": "t"}}}});
        assert_eq!(
            interpolate("x ${{ steps.a.outputs.token }} y", &ctx),
            "x t y"
        );
        assert_eq!(interpolate("${{ steps.b.outputs.token }}", &ctx), "");
        let c = "needs.h.outputs.event == 'assignment' && needs.h.outputs.stage == 'prod'";
        assert!(eval_if(c, &ctx, false));
        assert!(!eval_if(c, &ctx, true));
        assert!(!eval_if("needs.h.outputs.stage == 'staging'", &ctx, false));
        assert!(eval_if("failure()", &ctx, true));
        assert!(!eval_if("failure()", &ctx, false));
        assert!(eval_if("always()", &ctx, true));
        assert_eq!(interpolate("${{ toJSON(matrix) }}", &ctx), "null");
        assert!(glob("**#*").is_match("models/churn#prod"));
        assert!(glob("**@v*").is_match("churn@v1.2.0"));
        assert!(!glob("*@v*").is_match("models/churn@v1.2.0"));
    }
}
