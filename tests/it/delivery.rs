//! The deploy hand-off: `mlci ci` on a push of a registry tag, driven by
//! GitHub's example `push` payload pointed at the tag; the Deployment
//! calls against a mock, and against GitHub's OpenAPI description under
//! Prism.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::TestRepo;
use crate::github::{assert_no_violations, example_payload, Job, Prism};

/// A repository on `main` with a promotion policy, `churn` declared, and
/// v0.0.1 (auc 0.9) registered and in staging.
fn registry_repo() -> TestRepo {
    let r = TestRepo::new();
    r.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n    type: model\nmetrics:\n  - metrics.json\n",
    );
    r.write(
        "mlci.yaml",
        "promotion:\n  stages: [staging, prod]\n  rules:\n    prod:\n      - metric: auc\n        min: 0.85\n",
    );
    r.write("model.pkl", "m1");
    r.write("metrics.json", "{\"auc\": 0.9}\n");
    r.commit_all("m1");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "staging"])
        .ok();
    r
}

/// GitHub's example push payload, for a push of tag `tag`.
fn tag_push(tag: &str, sha: &str, repository: &str) -> Value {
    let mut p = example_payload("push", None);
    p["ref"] = json!(format!("refs/tags/{tag}"));
    p["after"] = json!(sha);
    p["base_ref"] = Value::Null;
    p["repository"]["full_name"] = json!(repository);
    p["repository"]["default_branch"] = json!("main");
    p
}

fn outputs(job: &Job) -> Vec<(String, String)> {
    job.read("output.txt")
        .lines()
        .filter_map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn head(r: &TestRepo) -> String {
    r.git(&["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn a_registration_tag_push_hands_its_outputs_to_the_deploy_job() {
    let r = registry_repo();
    let job = Job::new("octo/models");
    let sha = head(&r);
    let out = job.run(
        &r,
        "push",
        &tag_push("churn@v0.0.1", &sha, "octo/models"),
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        outputs(&job),
        [
            ("event", "registration"),
            ("name", "churn"),
            ("version", "v0.0.1"),
            ("stage", ""),
            ("type", "model"),
            ("path", "model.pkl"),
            ("commit", sha.as_str()),
            ("tag", "churn@v0.0.1"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(job
        .read("summary.md")
        .contains("### mlci: registration of churn v0.0.1"));
    assert!(
        job.requests().is_empty(),
        "no API call without --deployment"
    );
}

#[test]
fn an_assignment_is_checked_again_and_recorded_as_a_deployment() {
    let r = registry_repo();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    let job = Job::new("octo/models");
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77}))),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments/77/statuses"))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(json!({"id": 1, "state": "success"})),
            )
            .expect(1),
    );
    let sha = head(&r);
    let out = job.run(
        &r,
        "push",
        &tag_push("churn#prod#2", &sha, "octo/models"),
        &["--deployment"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let o = outputs(&job);
    assert!(o.contains(&("event".into(), "assignment".into())), "{o:?}");
    assert!(o.contains(&("stage".into(), "prod".into())), "{o:?}");
    assert!(o.contains(&("deployment_id".into(), "77".into())), "{o:?}");
    job.verify();
    let reqs = job.requests();
    let created: Value = serde_json::from_str(&reqs[0].2).unwrap();
    assert_eq!(created["environment"], "prod");
    assert_eq!(created["ref"], sha.as_str());
    assert_eq!(created["required_contexts"], json!([]));
    assert_eq!(created["payload"]["version"], "v0.0.1");
}

#[test]
fn a_stage_tag_pushed_by_hand_past_the_rules_is_refused_unless_forced() {
    let r = registry_repo();
    r.write("model.pkl", "weak");
    r.write("metrics.json", "{\"auc\": 0.5}\n");
    r.commit_all("weak");
    r.mlci(&["model", "register", "churn"]).ok();
    r.mlci(&["model", "promote", "churn", "v0.0.2", "--to", "staging"])
        .ok();
    let sha = head(&r);
    // Written with git itself: nothing checked it.
    r.git(&["tag", "-a", "-m", "by hand", "churn#prod#9", "HEAD"]);
    let job = Job::new("octo/models");
    let out = job.run(
        &r,
        "push",
        &tag_push("churn#prod#9", &sha, "octo/models"),
        &["--deployment"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL auc >= 0.85 (0.5)"));
    assert!(
        outputs(&job).is_empty(),
        "no deploy outputs for a refused promotion"
    );
    assert!(job.read("summary.md").contains("**Refused**"));
    assert!(
        job.requests().is_empty(),
        "no deployment for a refused promotion"
    );
    // The same, forced through mlci with a reason: handed over.
    r.git(&["tag", "-d", "churn#prod#9"]);
    let run = r
        .mlci(&[
            "model",
            "promote",
            "churn",
            "v0.0.2",
            "--to",
            "prod",
            "--force",
            "--reason",
            "rollback drill",
            "--json",
        ])
        .ok();
    let created: Value =
        serde_json::from_str(&run.stdout[run.stdout.find('{').unwrap()..]).unwrap();
    let tag = created["tag"].as_str().unwrap().to_string();
    assert_eq!(tag, "churn#prod#3");
    let job = Job::new("octo/models");
    let out = job.run(&r, "push", &tag_push(&tag, &sha, "octo/models"), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(job.read("summary.md").contains("Forced: rollback drill"));
    assert!(outputs(&job).contains(&("version".into(), "v0.0.2".into())));
}

/// The Deployment calls against GitHub's published OpenAPI description.
#[test]
fn deployment_calls_pass_githubs_openapi_description_under_prism() {
    let r = registry_repo();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    let job = Job::new("octo/models");
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(deployment_answer())),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments/77/statuses"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "url": "https://api.github.example/repos/octo/models/deployments/77/statuses/1",
                "id": 1, "node_id": "DES_1", "state": "success",
                "creator": null, "description": "churn v0.0.1 → prod",
                "environment": "prod", "target_url": "", "log_url": "",
                "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z",
                "deployment_url": "https://api.github.example/repos/octo/models/deployments/77",
                "repository_url": "https://api.github.example/repos/octo/models",
            }))),
    );
    let mut prism = Prism::start(&job);
    let sha = head(&r);
    let out = job.run_at(
        &r,
        "push",
        &tag_push("churn#prod#2", &sha, "octo/models"),
        &["--deployment"],
        &prism.api.clone(),
    );
    let text = prism.stop();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.matches("Request received").count() >= 2, "{text}");
    assert_no_violations(&text);
}

fn deployment_answer() -> Value {
    json!({
        "url": "https://api.github.example/repos/octo/models/deployments/77",
        "id": 77, "node_id": "DE_77", "sha": "a".repeat(40), "ref": "a".repeat(40),
        "task": "deploy", "payload": {}, "original_environment": "prod",
        "environment": "prod", "description": "churn v0.0.1 → prod", "creator": null,
        "created_at": "2026-11-30T00:00:00Z", "updated_at": "2026-11-30T00:00:00Z",
        "statuses_url": "https://api.github.example/repos/octo/models/deployments/77/statuses",
        "repository_url": "https://api.github.example/repos/octo/models",
        "transient_environment": false, "production_environment": true,
    })
}

/// The hand-off records the deployment in progress; the deploy job's last
/// step (`ci --finish-deployment ID`) marks it successful, which makes it
/// the environment's active one, or failed (`--deployment-failed`).
#[test]
fn a_deployment_is_successful_only_when_the_deploy_job_says_so() {
    let r = registry_repo();
    r.mlci(&["model", "promote", "churn", "v0.0.1", "--to", "prod"])
        .ok();
    let job = Job::new("octo/models");
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 77}))),
    );
    job.mount(
        Mock::given(method("POST"))
            .and(path("/repos/octo/models/deployments/77/statuses"))
            .and(|req: &wiremock::Request| {
                let v: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                v["state"] == "in_progress" && v["environment"] == "prod"
            })
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 1})))
            .expect(1),
    );
    let sha = head(&r);
    let out = job.run(
        &r,
        "push",
        &tag_push("churn#prod#2", &sha, "octo/models"),
        &["--deployment"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    job.verify();
    for (flags, state) in [
        (vec![], "success"),
        (vec!["--deployment-failed"], "failure"),
    ] {
        let done = Job::new("octo/models");
        let want = state.to_string();
        done.mount(
            Mock::given(method("POST"))
                .and(path("/repos/octo/models/deployments/77/statuses"))
                .and(move |req: &wiremock::Request| {
                    let v: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                    v["state"] == want.as_str() && v["auto_inactive"] == (want == "success")
                })
                .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 2})))
                .expect(1),
        );
        let mut args = vec!["--finish-deployment", "77"];
        args.extend(flags);
        let out = done.run(
            &r,
            "push",
            &tag_push("churn#prod#2", &sha, "octo/models"),
            &args,
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        done.verify();
        assert_eq!(done.requests().len(), 1, "{:?}", done.requests());
    }
}
