//! Tests of pipeline loading (kept apart so `load/mod.rs` stays readable).

use super::*;

fn load_str(files: &[(&str, &str)]) -> Result<Pipeline, PipelineError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        fs_err::create_dir_all(p.parent().unwrap()).unwrap();
        fs_err::write(p, text).unwrap();
    }
    load(dir.path())
}

#[test]
fn stages_with_wdir_params_and_flags() {
    let p = load_str(&[
        ("params.yaml", "train:\n  lr: 0.1\n  epochs: 3\n"),
        (
            "mlci.yaml",
            "stages:\n  train:\n    cmd: python train.py --lr ${train.lr}\n    wdir: src\n    deps: [train.py, ../data/x.csv]\n    params: [train.lr, {../cfg.toml: }]\n    outs:\n      - ../models/m.bin\n      - ../cache.db: {cache: false, persist: true}\n    metrics:\n      - ../eval/m.json: {cache: false}\n",
        ),
        ("cfg.toml", "a = 1\n"),
    ])
    .unwrap();
    let s = &p.stages[0];
    assert_eq!(s.cmd, ["python train.py --lr 0.1"]);
    assert_eq!(s.wdir, "src");
    assert_eq!(s.deps, ["src/train.py", "data/x.csv"]);
    assert_eq!(
        s.outs[0],
        Output {
            path: crate::workspace_path::WorkspacePath::new("models/m.bin").unwrap(),
            cache: true,
            persist: false,
            push: true,
            kind: OutKind::Out
        }
    );
    assert_eq!(
        s.outs[1],
        Output {
            path: crate::workspace_path::WorkspacePath::new("cache.db").unwrap(),
            cache: false,
            persist: true,
            push: true,
            kind: OutKind::Out
        }
    );
    assert_eq!(s.outs[2].kind, OutKind::Metric);
    assert!(!s.outs[2].cache);
    assert_eq!(
        s.params,
        [
            ParamDep {
                file: "src/params.yaml".into(),
                keys: Some(vec!["train.lr".into()])
            },
            ParamDep {
                file: "cfg.toml".into(),
                keys: None
            }
        ]
    );
}

#[test]
fn foreach_and_matrix_expand_like_dvc() {
    let p = load_str(&[
        ("params.yaml", "models: [small, large]\n"),
        (
            "dvc.yaml",
            "stages:\n  train:\n    foreach: ${models}\n    do:\n      cmd: echo ${item}\n      outs:\n        - m/${item}.bin\n  grid:\n    matrix:\n      lr: [0.1, 0.01]\n      opt: [adam]\n    cmd: echo ${item.lr} ${item.opt}\n  per:\n    foreach:\n      a: {n: 1}\n      b: {n: 2}\n    do:\n      cmd: echo ${key} ${item.n}\n",
        ),
    ])
    .unwrap();
    let names: Vec<_> = p.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        // dvc.yaml's order, as `dvc stage list` gives it.
        [
            "train@small",
            "train@large",
            "grid@0.1-adam",
            "grid@0.01-adam",
            "per@a",
            "per@b",
        ]
    );
    assert_eq!(p.stages[3].cmd, ["echo 0.01 adam"]);
    assert_eq!(p.stages[5].cmd, ["echo b 2"]);
    assert_eq!(p.stages[1].outs[0].path, "m/large.bin");
    assert_eq!(p.source.as_deref(), Some("dvc.yaml"));
}

#[test]
fn mlci_yaml_without_stages_takes_stages_from_dvc_yaml() {
    let p = load_str(&[
        ("mlci.yaml", "gates:\n  - metric: acc\n    min: 0.9\n"),
        ("dvc.yaml", "stages:\n  a:\n    cmd: echo a\n"),
    ])
    .unwrap();
    assert_eq!(p.stages.len(), 1);
    assert!(p.gates.is_some());
}

#[test]
fn errors_name_file_line_stage_and_key() {
    let e =
        load_str(&[("mlci.yaml", "stages:\n  a:\n    cmd: echo\n    dpes: [x]\n")]).unwrap_err();
    assert!(e.to_string().starts_with("mlci.yaml:4:"), "{e}");
    assert!(e.to_string().contains("unknown field `dpes`"), "{e}");
    let e =
        load_str(&[("mlci.yaml", "stages:\n  a:\n    cmd: echo ${missing.key}\n")]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mlci.yaml:3: stage `a`: cannot interpolate `${missing.key}`: `missing` is not defined"
    );
    assert!(e.hint().is_some());
    let e = load_str(&[(
        "mlci.yaml",
        "stages:\n  a:\n    cmd: echo\n    deps: [../../etc/passwd]\n",
    )])
    .unwrap_err();
    assert!(e.to_string().contains("leaves the repository"), "{e}");
    let e = load_str(&[(
        "mlci.yaml",
        "stages:\n  a:\n    frozen: maybe\n    cmd: x\n",
    )])
    .unwrap_err();
    assert!(e.to_string().starts_with("mlci.yaml:3:"), "{e}");
    let e = load_str(&[
        ("params.yaml", "a: [\n"),
        ("mlci.yaml", "stages:\n  a:\n    cmd: x\n"),
    ])
    .unwrap_err();
    assert!(e.to_string().contains("params.yaml"), "{e}");
}

#[test]
fn interpolation_escapes_and_indices() {
    let vars = serde_json::json!({"a": {"b": [10, 20]}, "s": "x"});
    assert_eq!(interpolate("${a.b[1]}-${s}", &vars, None).unwrap(), "20-x");
    assert_eq!(interpolate("\\${s}", &vars, None).unwrap(), "${s}");
    assert!(interpolate("${a.c}", &vars, None)
        .unwrap_err()
        .1
        .to_string()
        .contains("`a` has no key `c`"));
    assert!(interpolate("${a}", &vars, None).is_err());
}

#[test]
fn nested_dvc_yaml_files_join_unless_mlci_yaml_holds_stages() {
    let nested = (
        "m/dvc.yaml",
        "stages:\n  s:\n    wdir: w\n    cmd: echo ${k}\n    deps: [../in.txt]\n    outs: [o.txt]\n",
    );
    let params = ("m/params.yaml", "k: 7\n");
    // An mlci.yaml of gates alone, or none: the nested stages are in.
    for root in [vec![("mlci.yaml", "gates: []\n")], vec![]] {
        let mut files = root.clone();
        files.extend([nested, params]);
        let p = load_str(&files).unwrap();
        let names: Vec<&str> = p.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["m/dvc.yaml:s"]);
        let s = &p.stages[0];
        assert_eq!((s.wdir.as_str(), s.cmd[0].as_str()), ("m/w", "echo 7"));
        assert_eq!(s.deps, ["m/in.txt"]);
        assert_eq!(s.outs[0].path, "m/w/o.txt");
    }
    // Stages in mlci.yaml replace every dvc.yaml.
    let p = load_str(&[
        ("mlci.yaml", "stages:\n  r:\n    cmd: echo r\n"),
        nested,
        params,
    ])
    .unwrap();
    assert_eq!(p.stages.len(), 1);
    assert_eq!(p.stages[0].name, "r");
}

#[test]
fn nested_top_level_metrics_params_and_plots_are_rebased() {
    let p = load_str(&[(
        "m/dvc.yaml",
        "metrics: [eval/m.json]\nparams: [cfg.yaml]\nplots:\n  - loss.csv:\n      x: step\n  - curve:\n      y:\n        loss.csv: loss\nstages:\n  s:\n    cmd: echo\n",
    )])
    .unwrap();
    assert_eq!(p.metrics, ["m/eval/m.json"]);
    assert_eq!(p.params, ["m/cfg.yaml"]);
    let ids: Vec<&str> = p.plots.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["m/loss.csv", "m/dvc.yaml::curve"]);
    assert!(p.plots.iter().all(|d| d.sources[0].file == "m/loss.csv"));
}
