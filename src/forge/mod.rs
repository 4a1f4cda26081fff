//! Where reports and verdicts are published: a code forge's API. Only
//! GitHub exists so far ([`github`]); what is forge-neutral (the sticky
//! marker, fitting a body to the limit, verdicts) lives here. The forge
//! knows nothing of pipelines or metrics: it posts text and states.

pub mod github;

/// The marker that makes a comment mlci's sticky report for `key`.
pub fn marker(key: &str) -> String {
    format!("<!-- mlci:report key={key} -->")
}

/// Whether `body` is `key`'s sticky report: its first line is exactly the
/// marker (mlci puts it there). A marker anywhere else is data (a metric
/// name can hold any text) and makes nothing sticky.
pub fn carries_marker(body: &str, key: &str) -> bool {
    body.lines()
        .next()
        .is_some_and(|first| first.trim_end_matches('\r') == marker(key))
}

/// GitHub's limit on a comment body, in characters.
pub const BODY_LIMIT: usize = 65_536;

/// The comment body for `report`: marker first, cut to fit the limit with
/// a note pointing at the full report (the workflow run) when too long.
pub fn comment_body(key: &str, report: &str, run_link: Option<&str>, limit: usize) -> String {
    let head = format!("{}\n", marker(key));
    let full = format!("{head}{report}");
    if full.chars().count() <= limit {
        return full;
    }
    let tail = match run_link {
        Some(link) => format!(
            "\n\n---\n*The report was cut to fit a comment; the full report is in the [workflow run]({link}) (job summary).*\n"
        ),
        None => "\n\n---\n*The report was cut to fit a comment; the full report is in the job summary.*\n"
            .to_string(),
    };
    let room = limit.saturating_sub(head.chars().count() + tail.chars().count());
    let cut: String = report.chars().take(room).collect();
    // Cut at a line end, so no Markdown table row or link is left half.
    let cut = match cut.rfind('\n') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => &cut[..],
    };
    format!("{head}{cut}{tail}")
}

/// A commit status or check-run conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    Error,
}

/// What publishing a comment did.
#[derive(Debug, Clone)]
pub struct Posted {
    pub url: String,
    pub updated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_fit_the_limit_and_keep_the_marker() {
        let report = "| a | b |\n".repeat(10_000);
        let body = comment_body("ci/job", &report, Some("https://x/run/1"), BODY_LIMIT);
        assert!(body.chars().count() <= BODY_LIMIT);
        assert!(body.starts_with("<!-- mlci:report key=ci/job -->\n"));
        assert!(body.contains("[workflow run](https://x/run/1)"));
        assert!(body.contains("| a | b |\n\n---"), "cut at a line end");
        let short = comment_body("k", "hello", None, BODY_LIMIT);
        assert_eq!(short, "<!-- mlci:report key=k -->\nhello");
        // Multi-byte characters count as one each and are never split.
        assert!(carries_marker(&short, "k"));
        assert!(!carries_marker(&short, "k2"));
        assert!(!carries_marker(&format!("x\n{short}"), "k"));
        assert!(!carries_marker("<!-- mlci:report key=k --> extra\n", "k"));
        let wide = "é".repeat(70_000);
        let body = comment_body("k", &wide, None, BODY_LIMIT);
        assert!(body.chars().count() <= BODY_LIMIT);
    }
}
