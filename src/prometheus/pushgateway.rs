//! Pushing metrics to a Prometheus Pushgateway: one PUT that replaces the
//! whole group (`/metrics/job/JOB/LABEL/VALUE…`), label values with `/` or
//! empty ones in the gateway's `@base64` form (URL-safe base64), bounded
//! retries on connection failures and 5xx answers, and the gateway's own
//! message when it refuses the body (400).

use std::time::Duration;

use base64::Engine as _;

use super::exposition::Format;

/// Attempts of one push (the first and two retries), and the waits.
const ATTEMPTS: u32 = 3;

/// Why a push failed (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("pushing to {url}: {message}")]
pub struct PushError {
    pub url: String,
    pub message: String,
    pub refused: bool,
}

impl crate::error::Hint for PushError {
    fn hint(&self) -> Option<String> {
        Some(if self.refused {
            "the gateway refused the metrics: its message says why (a label name it reserves, a family pushed before with another type)".into()
        } else {
            "check the Pushgateway's URL (`http://HOST:9091`) and that it is up".into()
        })
    }
}

crate::register_hint!(PushError);

/// One path segment pair of the grouping key.
fn segment(label: &str, value: &str) -> String {
    // `.` and `..` would be read as path steps (a client or proxy folds
    // them, and the push lands in another group): base64 like `/`.
    if value.is_empty() || value.contains('/') || value.chars().all(|c| c == '.') {
        let enc = base64::engine::general_purpose::URL_SAFE.encode(value.as_bytes());
        let enc = if enc.is_empty() { "=".to_string() } else { enc };
        format!("{label}@base64/{enc}")
    } else {
        let escaped: String = value
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect();
        format!("{label}/{escaped}")
    }
}

/// The group's URL: `BASE/metrics/job/JOB[/LABEL/VALUE…]`.
pub fn group_url(base: &str, job: &str, grouping: &[(String, String)]) -> String {
    let mut url = format!(
        "{}/metrics/{}",
        base.trim_end_matches('/'),
        segment("job", job)
    );
    for (k, v) in grouping {
        url.push('/');
        url.push_str(&segment(k, v));
    }
    url
}

/// PUTs `body` (in `format`) as the group `job` + `grouping` at `base`.
pub fn push(
    base: &str,
    job: &str,
    grouping: &[(String, String)],
    body: String,
    format: Format,
) -> Result<(), PushError> {
    let url = group_url(base, job, grouping);
    let fail = |message: String, refused: bool| PushError {
        url: url.clone(),
        message,
        refused,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string(), false))?;
    let client = reqwest::Client::builder()
        .user_agent(concat!("mlci/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string(), false))?;
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(500 << (attempt - 1)));
        }
        let sent = rt.block_on(async {
            let res = client
                .put(&url)
                .header("Content-Type", format.content_type())
                .body(body.clone())
                .send()
                .await?;
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, text))
        });
        match sent {
            Ok((s, _)) if s.is_success() => return Ok(()),
            Ok((s, text)) if s.is_server_error() => last = format!("{s}: {}", text.trim()),
            Ok((s, text)) => return Err(fail(format!("{s}: {}", text.trim()), s.as_u16() == 400)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(fail(format!("{last} (after {ATTEMPTS} attempts)"), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_cannot_move_a_push_to_another_group() {
        let url = group_url(
            "http://h:9",
            "..",
            &[("stage".into(), ".".into()), ("x".into(), "a.b".into())],
        );
        assert_eq!(
            url,
            "http://h:9/metrics/job@base64/Li4=/stage@base64/Lg==/x/a.b"
        );
        assert!(!url.split('/').any(|s| s == "." || s == ".."), "{url}");
    }

    #[test]
    fn grouping_values_with_slashes_or_empty_are_base64() {
        let url = group_url(
            "http://127.0.0.1:9091/",
            "mlci",
            &[
                ("repository".into(), "octo/churn".into()),
                ("stage".into(), String::new()),
                ("rev".into(), "a b".into()),
            ],
        );
        assert_eq!(
            url,
            "http://127.0.0.1:9091/metrics/job/mlci/repository@base64/b2N0by9jaHVybg==/stage@base64/=/rev/a%20b"
        );
    }
}
