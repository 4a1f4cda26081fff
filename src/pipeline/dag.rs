//! The stage graph: an edge from the stage that writes a path to every stage
//! that reads it (or a path inside it, or a directory containing it).
//! Cycles and outputs claimed twice are errors naming the stages involved.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Hint;
use crate::pipeline::Stage;

#[derive(Debug, thiserror::Error)]
pub enum DagError {
    #[error("stages `{a}` and `{b}` both write `{path}`")]
    SharedOut { a: String, b: String, path: String },
    #[error("the stages form a cycle: {}", cycle.join(" -> "))]
    Cycle { cycle: Vec<String> },
    #[error("no stage is named `{name}`")]
    UnknownStage {
        name: String,
        /// Names close to it, best first.
        near: Vec<String>,
        known: Vec<String>,
    },
}

impl Hint for DagError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            DagError::SharedOut { .. } => {
                "give each output exactly one stage that writes it".into()
            }
            DagError::Cycle { .. } => {
                "a stage cannot depend, directly or not, on its own outputs".into()
            }
            DagError::UnknownStage { near, known, .. } => {
                if known.is_empty() {
                    "the pipeline has no stages yet: define them under `stages:` in mlci.yaml"
                        .into()
                } else if !near.is_empty() {
                    format!("did you mean: {}?", near.join(", "))
                } else {
                    format!("stages: {}", known.join(", "))
                }
            }
        })
    }
}

crate::register_hint!(DagError);

/// True when `a` and `b` are the same path or one contains the other.
pub fn overlaps(a: &str, b: &str) -> bool {
    a == b
        || (b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'/')
        || (a.len() > b.len() && a.starts_with(b) && a.as_bytes()[b.len()] == b'/')
        || a.is_empty()
        || b.is_empty()
}

/// Every stage output by path, so the outputs that overlap a path are
/// found by looking up its ancestors and the range below it: linear in the
/// outputs overall, where comparing every pair was quadratic.
pub struct OutIndex<'a> {
    /// Path → (stage, output) of every output with that path.
    by_path: BTreeMap<&'a str, Vec<(usize, usize)>>,
}

impl<'a> OutIndex<'a> {
    pub fn new(stages: &'a [Stage]) -> OutIndex<'a> {
        let mut by_path: BTreeMap<&str, Vec<(usize, usize)>> = BTreeMap::new();
        for (i, s) in stages.iter().enumerate() {
            for (k, o) in s.outs.iter().enumerate() {
                by_path.entry(o.path.as_str()).or_default().push((i, k));
            }
        }
        OutIndex { by_path }
    }

    /// Calls `each(stage, output)` for every output that [`overlaps`]
    /// `path` (the same path, a directory holding it, a path inside it).
    pub fn overlapping(&self, path: &str, mut each: impl FnMut(usize, usize)) {
        let mut emit = |v: &Vec<(usize, usize)>| v.iter().for_each(|(i, k)| each(*i, *k));
        if path.is_empty() {
            self.by_path.values().for_each(&mut emit);
            return;
        }
        // The path itself and the directories above it (and the empty
        // path, which overlaps every path).
        if let Some(v) = self.by_path.get("") {
            emit(v);
        }
        if let Some(v) = self.by_path.get(path) {
            emit(v);
        }
        for (at, _) in path.match_indices('/') {
            if let Some(v) = self.by_path.get(&path[..at]) {
                emit(v);
            }
        }
        // Paths below it: those starting with `path/` (`0` follows `/`).
        let (lo, hi) = (format!("{path}/"), format!("{path}0"));
        for (_, v) in self.by_path.range::<str, _>((
            std::ops::Bound::Included(lo.as_str()),
            std::ops::Bound::Excluded(hi.as_str()),
        )) {
            emit(v);
        }
    }
}

/// The graph over stage indices.
#[derive(Debug)]
pub struct Dag {
    /// `upstream[i]`: stages whose outputs stage `i` reads.
    pub upstream: Vec<BTreeSet<usize>>,
    pub downstream: Vec<BTreeSet<usize>>,
    /// `inputs[i]`: stage `i`'s upstream stages in DVC's edge order (its
    /// dependencies as declared, each one's writer).
    pub inputs: Vec<Vec<usize>>,
    /// All stages in the order DVC runs them: a depth-first post-order
    /// over the stages in pipeline-file order, each stage's inputs before
    /// it in [`Dag::inputs`] order (`networkx.dfs_postorder_nodes` over
    /// DVC's stage graph, whose nodes are in the order DVC collects the
    /// pipeline files and whose edges run from a stage to its inputs).
    pub order: Vec<usize>,
}

impl Dag {
    pub fn build(stages: &[Stage]) -> Result<Dag, DagError> {
        let n = stages.len();
        let index = OutIndex::new(stages);
        for (i, a) in stages.iter().enumerate() {
            // The first later stage whose output overlaps one of `a`'s,
            // then `a`'s first such output and that stage's first one: the
            // pair a scan over every pair in order would name.
            let mut first: Option<(usize, usize, usize)> = None;
            for (x, oa) in a.outs.iter().enumerate() {
                index.overlapping(&oa.path, |j, y| {
                    if j > i && first.is_none_or(|f| (j, x, y) < f) {
                        first = Some((j, x, y));
                    }
                });
            }
            if let Some((j, x, y)) = first {
                let (oa, ob) = (&a.outs[x].path, &stages[j].outs[y].path);
                return Err(DagError::SharedOut {
                    a: a.name.clone(),
                    b: stages[j].name.clone(),
                    path: if oa.len() <= ob.len() {
                        oa.to_string()
                    } else {
                        ob.to_string()
                    },
                });
            }
        }
        let mut upstream = vec![BTreeSet::new(); n];
        let mut downstream = vec![BTreeSet::new(); n];
        // Each stage's upstream in DVC's edge order: by dependency as
        // declared, each dependency's writers as found.
        let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, s) in stages.iter().enumerate() {
            for dep in &s.deps {
                index.overlapping(dep, |j, _| {
                    if upstream[i].insert(j) {
                        inputs[i].push(j);
                    }
                    downstream[j].insert(i);
                });
            }
        }
        // A cycle first, by name, as Kahn's algorithm leaves it.
        let mut indegree: Vec<usize> = upstream.iter().map(BTreeSet::len).collect();
        let mut ready: Vec<usize> = (0..n).filter(|i| indegree[*i] == 0).collect();
        let mut seen = 0;
        while let Some(i) = ready.pop() {
            seen += 1;
            for &d in &downstream[i] {
                indegree[d] -= 1;
                if indegree[d] == 0 {
                    ready.push(d);
                }
            }
        }
        if seen < n {
            return Err(DagError::Cycle {
                cycle: find_cycle(stages, &upstream, &indegree),
            });
        }
        let everything = vec![true; n];
        let order = postorder(&inputs, &everything);
        Ok(Dag {
            upstream,
            downstream,
            inputs,
            order,
        })
    }

    /// What a run of `targets` considers, in the order DVC runs it: the
    /// targets with everything upstream of them, or with
    /// `with_downstream` the targets and everything downstream of them
    /// (DVC's `--downstream`: what feeds a target is not rerun); then
    /// [`Dag::order`]'s walk over only those stages.
    pub fn select(&self, targets: &[usize], with_downstream: bool) -> Vec<usize> {
        let mut keep = vec![false; self.inputs.len()];
        let mut stack: Vec<usize> = targets.to_vec();
        while let Some(i) = stack.pop() {
            if !keep[i] {
                keep[i] = true;
                if with_downstream {
                    stack.extend(self.downstream[i].iter().copied());
                } else {
                    stack.extend(self.upstream[i].iter().copied());
                }
            }
        }
        postorder(&self.inputs, &keep)
    }
}

/// The stages `keep` marks, each after its kept inputs: a depth-first
/// post-order from each stage in index order, following `inputs` in their
/// order. Iterative, so a long chain cannot overflow the stack.
fn postorder(inputs: &[Vec<usize>], keep: &[bool]) -> Vec<usize> {
    let n = inputs.len();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for root in (0..n).filter(|i| keep[*i]) {
        if done[root] {
            continue;
        }
        done[root] = true;
        stack.push((root, 0));
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            match inputs[node][*next..]
                .iter()
                .position(|j| keep[*j] && !done[*j])
            {
                Some(k) => {
                    let j = inputs[node][*next + k];
                    *next += k + 1;
                    done[j] = true;
                    stack.push((j, 0));
                }
                None => {
                    order.push(node);
                    stack.pop();
                }
            }
        }
    }
    order
}

/// One cycle among the stages left with unmet inputs, by name.
fn find_cycle(stages: &[Stage], upstream: &[BTreeSet<usize>], indegree: &[usize]) -> Vec<String> {
    let start = (0..stages.len()).find(|i| indegree[*i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = upstream[cur]
            .iter()
            .copied()
            .find(|j| indegree[*j] > 0)
            .unwrap_or(start);
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let mut cycle: Vec<String> = path[pos..]
                .iter()
                .rev()
                .map(|i| stages[*i].name.clone())
                .collect();
            cycle.push(cycle[0].clone());
            return cycle;
        }
        path.push(next);
        cur = next;
    }
}

/// The graph as text: `a -> b` edges, Mermaid, or Graphviz dot.
pub fn render(stages: &[Stage], dag: &Dag, format: &str) -> String {
    let mut edges = Vec::new();
    for &i in &dag.order {
        for &d in &dag.downstream[i] {
            edges.push((stages[i].name.as_str(), stages[d].name.as_str()));
        }
    }
    // Mermaid node ids: the name's letters and digits, made unique (`a-b`
    // and `a_b` are two stages) and never Mermaid's keyword `end`; the
    // name itself is the quoted label.
    let mut ids: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    let mut taken = std::collections::HashSet::new();
    for &i in &dag.order {
        let name = stages[i].name.as_str();
        let mut id: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        if id.eq_ignore_ascii_case("end") || id.is_empty() {
            id.push('_');
        }
        let base = id.clone();
        let mut n = 1;
        while !taken.insert(id.clone()) {
            n += 1;
            id = format!("{base}_{n}");
        }
        ids.insert(name, id);
    }
    let id = |name: &str| ids[name].clone();
    match format {
        "mermaid" => {
            let mut s = String::from("flowchart TD\n");
            for &i in &dag.order {
                let n = &stages[i].name;
                s.push_str(&format!(
                    "    {}[{}]\n",
                    id(n),
                    crate::escape::mermaid_string(n)
                ));
            }
            for (a, b) in edges {
                s.push_str(&format!("    {} --> {}\n", id(a), id(b)));
            }
            s
        }
        "dot" => {
            let q = crate::escape::dot_string;
            let mut s = String::from("digraph pipeline {\n");
            for &i in &dag.order {
                s.push_str(&format!("    {};\n", q(&stages[i].name)));
            }
            for (a, b) in edges {
                s.push_str(&format!("    {} -> {};\n", q(a), q(b)));
            }
            s.push_str("}\n");
            s
        }
        _ => {
            let mut s = String::new();
            for &i in &dag.order {
                let ups: Vec<&str> = dag.upstream[i]
                    .iter()
                    .map(|u| stages[*u].name.as_str())
                    .collect();
                if ups.is_empty() {
                    s.push_str(&format!("{}\n", stages[i].name));
                } else {
                    s.push_str(&format!("{} <- {}\n", stages[i].name, ups.join(", ")));
                }
            }
            s
        }
    }
}
