//! What users read from the lifecycle commands, snapshotted whole: the
//! registry's list, drift's table, the monitor's windows, the plan.

use crate::common::TestRepo;
use crate::snapshot;

#[test]
fn model_list_reads_as_a_table() {
    let r = TestRepo::new();
    r.write(
        "dvc.yaml",
        "artifacts:\n  churn:\n    path: model.pkl\n  fraud:\n    path: model.pkl\n",
    );
    r.write("model.pkl", "m1");
    r.commit_all("m1");
    let at = |n: u32| [("GIT_COMMITTER_DATE", format!("2030-01-01T00:0{n}:00 +0000"))];
    let model = |args: &[&str], n: u32| {
        let mut all = vec!["model"];
        all.extend_from_slice(args);
        let env = at(n);
        r.mlci_env(&all, &[(env[0].0, env[0].1.as_str())]).ok()
    };
    model(&["register", "churn"], 1);
    model(&["register", "fraud"], 2);
    model(&["promote", "churn", "v0.0.1", "--to", "prod"], 3);
    model(&["promote", "fraud", "v0.0.1", "--to", "staging"], 4);
    snapshot!(r, r.mlci(&["model", "list"]), @r"
    exit: 0
    --- stdout
    name   latest  #prod   #staging
    churn  v0.0.1  v0.0.1  -
    fraud  v0.0.1  -       v0.0.1
    --- stderr
    ");
}

#[test]
fn drift_reads_as_a_table() {
    let r = TestRepo::new();
    r.write("ref.csv", "x,c\n1,a\n2,b\n3,a\n4,b\n5,a\n6,b\n7,a\n8,b\n");
    r.write(
        "cur.csv",
        "x,c\n11,a\n12,a\n13,a\n14,a\n15,a\n16,a\n17,a\n,a\n",
    );
    snapshot!(r, r.mlci(&["drift", "ref.csv", "cur.csv"]), @r"
    exit: 0
    --- stdout
    column  type         method  statistic  p-value  threshold  drifted  missing (ref / cur)
    x       numeric      ks      1.0000     0.0003   0.0500     drift    0 / 1
    c       categorical  z       2.3094     0.0209   0.0500     drift    0 / 0

    2 of 2 columns drifted (share 1.00, threshold 0.50): the dataset drifts
    --- stderr
    ");
}

#[test]
fn monitor_reads_as_a_table() {
    let r = TestRepo::new();
    r.write(
        "log.csv",
        "timestamp,prediction,target\n2026-03-28T23:30:00+01:00,1,1\n2026-03-29T00:30:00+01:00,0,1\n2026-03-29T12:00:00+02:00,1,1\n2026-03-30T01:00:00+02:00,0,0\n",
    );
    snapshot!(r, r.mlci(&["monitor", "log.csv"]), @r"
    exit: 0
    --- stdout
    window      rows  accuracy  f1      precision  recall  roc_auc  prediction drift  verdict
    2026-03-28  2     0.5000    0.6667  1.0000     0.5000  -        -                 ok
    2026-03-29  2     1.0000    1.0000  1.0000     1.0000  -        -                 ok
    --- stderr
    ");
}

#[test]
fn plan_reads_as_waves() {
    let r = TestRepo::new();
    r.write("mlci.yaml", crate::plan::SEVEN);
    r.write("in.txt", "one\n");
    snapshot!(r, r.mlci(&["plan"]), @r"
    exit: 0
    --- stdout
    wave 0:
      a: never run
      e: never run
      f: never run
    wave 1:
      b: never run; an upstream stage runs first
      c: never run; an upstream stage runs first
      g: never run; an upstream stage runs first
    wave 2:
      d: never run; an upstream stage runs first
    --- stderr
    ");
}
