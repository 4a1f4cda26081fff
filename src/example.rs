//! Built-in example projects for `mlci init --example NAME DIR`, embedded at
//! build time so the binary alone can scaffold them.

/// One example: a name, a one-line description and its files.
pub struct Example {
    pub name: &'static str,
    pub about: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

pub const EXAMPLES: &[Example] = &[Example {
    name: "classifier",
    about: "a tiny classifier pipeline in standard-library Python: generate, train, evaluate",
    files: &[
        (
            "README.md",
            include_str!("../templates/examples/classifier/README.md"),
        ),
        (
            "run.sh",
            include_str!("../templates/examples/classifier/run.sh"),
        ),
        (
            "params.yaml",
            include_str!("../templates/examples/classifier/params.yaml"),
        ),
        (
            "mlci.yaml",
            include_str!("../templates/examples/classifier/mlci.yaml"),
        ),
        (
            "src/generate.py",
            include_str!("../templates/examples/classifier/src/generate.py"),
        ),
        (
            "src/train.py",
            include_str!("../templates/examples/classifier/src/train.py"),
        ),
        (
            "src/evaluate.py",
            include_str!("../templates/examples/classifier/src/evaluate.py"),
        ),
        (
            ".gitignore",
            include_str!("../templates/examples/classifier/gitignore"),
        ),
    ],
}];

pub fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}
