//! Charts drawn on the server as SVG: no script, nothing loaded from elsewhere, and the page
//! shows them as soon as it arrives.

use std::fmt::Write;

use mailmoat_gateway::events::{Bucket, CATEGORIES};

pub fn color(category: &str) -> &'static str {
    match category {
        "clean" => "#b8c4ce",
        "spam" => "#e0a43a",
        "phishing" => "#d9534f",
        "malware" => "#8e2c9a",
        "impersonation" => "#2a7ab8",
        "policy" => "#4c9a5b",
        "signature" => "#333333",
        _ => "#999999",
    }
}

/// XML-escapes text placed in the SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A stacked bar chart: one bar per bucket from `since` to `until`, stacked by detection type
/// (clean left out when `detections_only`). Labels every few bars with `label(start)`.
pub fn stacked_bars(
    buckets: &[Bucket],
    since: i64,
    until: i64,
    bucket_secs: i64,
    detections_only: bool,
    label: impl Fn(i64) -> String,
    title: &str,
) -> String {
    let n = ((until - since) / bucket_secs).max(1) as usize;
    let categories: Vec<&str> = CATEGORIES
        .iter()
        .copied()
        .filter(|c| !(detections_only && *c == "clean"))
        .collect();
    let mut counts = vec![vec![0u64; categories.len()]; n];
    for b in buckets {
        if b.start < since || b.start >= until {
            continue;
        }
        let i = ((b.start - since) / bucket_secs) as usize;
        if let Some(c) = categories.iter().position(|c| *c == b.category) {
            counts[i.min(n - 1)][c] += b.messages;
        }
    }
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, left, bottom, top) = (720.0, 220.0, 48.0, 28.0, 24.0);
    let plot_h = height - bottom - top;
    let bar_w = (width - left - 8.0) / n as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{t}" class="chart"><title>{t}</title>"#,
        t = esc(title)
    );
    let _ = write!(
        svg,
        r##"<text x="{left}" y="14" font-size="11" fill="#444">{}</text>"##,
        esc(title)
    );
    for tick in [0.0, 0.5, 1.0] {
        let y = top + plot_h * (1.0 - tick);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{width}" y1="{y:.1}" y2="{y:.1}" stroke="#e3e3e3"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end" fill="#666">{}</text>"##,
            left - 4.0,
            y + 3.0,
            (max as f64 * tick).round() as u64
        );
    }
    let every = (n / 8).max(1);
    for (i, stack) in counts.iter().enumerate() {
        let x = left + i as f64 * bar_w;
        let mut y = top + plot_h;
        for (c, &count) in stack.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let h = plot_h * count as f64 / max as f64;
            y -= h;
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {count}</title></rect>"#,
                x + 0.5,
                (bar_w - 1.0).max(0.5),
                color(categories[c]),
                esc(categories[c])
            );
        }
        if i % every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{x:.1}" y="{:.1}" font-size="10" fill="#666">{}</text>"##,
                height - 10.0,
                esc(&label(since + i as i64 * bucket_secs))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Two bars per day around a change: counts per bucket, the change marked by a line.
pub fn before_after(
    series: &[(i64, u64)],
    since: i64,
    until: i64,
    change_at: i64,
    bucket_secs: i64,
    label: impl Fn(i64) -> String,
    title: &str,
) -> String {
    let buckets: Vec<Bucket> = series
        .iter()
        .map(|&(start, n)| Bucket {
            start,
            category: if start + bucket_secs <= change_at {
                "impersonation".to_string()
            } else {
                "phishing".to_string()
            },
            messages: n,
        })
        .collect();
    let mut svg = stacked_bars(&buckets, since, until, bucket_secs, true, label, title);
    let n = ((until - since) / bucket_secs).max(1) as f64;
    let x = 48.0 + (720.0 - 48.0 - 8.0) * ((change_at - since) as f64 / bucket_secs as f64) / n;
    svg.truncate(svg.len() - "</svg>".len());
    let _ = write!(
        svg,
        r##"<line x1="{x:.1}" x2="{x:.1}" y1="20" y2="192" stroke="#000" stroke-dasharray="4 3"/><text x="{:.1}" y="30" font-size="10">change</text></svg>"##,
        x + 3.0
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_and_labels_are_escaped() {
        let buckets = vec![
            Bucket {
                start: 0,
                category: "spam".into(),
                messages: 3,
            },
            Bucket {
                start: 0,
                category: "clean".into(),
                messages: 5,
            },
            Bucket {
                start: 3600,
                category: "malware".into(),
                messages: 1,
            },
        ];
        let svg = stacked_bars(&buckets, 0, 7200, 3600, true, |t| format!("<{t}>"), "a&b");
        assert!(svg.contains("spam: 3"));
        assert!(svg.contains("malware: 1"));
        assert!(!svg.contains("clean: 5"), "detections only");
        assert!(svg.contains("&lt;0&gt;") && svg.contains("a&amp;b"));
        let all = stacked_bars(&buckets, 0, 7200, 3600, false, |t| t.to_string(), "t");
        assert!(all.contains("clean: 5"));
        let ba = before_after(
            &[(0, 2), (86400, 7)],
            0,
            2 * 86400,
            86400,
            86400,
            |t| t.to_string(),
            "x",
        );
        assert!(ba.contains("change") && ba.ends_with("</svg>"));
    }
}
