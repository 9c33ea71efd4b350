//! Progress for people at a terminal (indicatif bars with rate and ETA) and
//! timestamped lines for logs; and the summary table each step ends with.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    multi: MultiProgress,
    started: Instant,
}

impl Progress {
    pub fn new() -> Self {
        Self { multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()), started: Instant::now() }
    }

    /// A line above the bars on a terminal, on stderr otherwise.
    pub fn line(&self, message: impl AsRef<str>) {
        let line = format!("{:>8.1}s  {}", self.started.elapsed().as_secs_f64(), message.as_ref());
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }

    /// A bar counting bytes against an estimate, with rate and ETA.
    pub fn bytes_bar(&self, estimate: u64, prefix: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(estimate));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    /// A bar counting items (indexes, tables).
    pub fn count_bar(&self, total: u64, prefix: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }

    /// A line per worker saying what it is doing.
    pub fn worker_line(&self, name: &str) -> ProgressBar {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{prefix:>9} {spinner} {wide_msg}").expect("a valid template"));
        bar.set_prefix(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }
}

/// One row of a step's summary.
pub struct Row {
    pub step: String,
    pub seconds: f64,
    pub detail: String,
}

/// pgcopydb-style: each step, its duration, what it moved; then the total.
pub fn summary(rows: &[Row], total_seconds: f64) -> String {
    let width = rows.iter().map(|row| row.step.len()).max().unwrap_or(4).max("total".len());
    let mut out = format!("\n{:width$}  {:>10}  {}\n", "step", "duration", "done");
    out.push_str(&format!("{}  {}  {}\n", "-".repeat(width), "-".repeat(10), "-".repeat(40)));
    for row in rows {
        out.push_str(&format!("{:width$}  {:>10}  {}\n", row.step, duration(row.seconds), row.detail));
    }
    out.push_str(&format!("{:width$}  {:>10}\n", "total", duration(total_seconds)));
    out
}

pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.3} s")
    } else {
        format!("{}m{:04.1}s", (seconds / 60.0) as u64, seconds % 60.0)
    }
}

/// `12.3 MB`, decimal units as PostgreSQL's `pg_size_pretty` does not (it uses 1024).
pub fn bytes(count: u64) -> String {
    crate::migrate::preflight::human_bytes(count as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_lines_up() {
        let rows = [
            Row { step: "schema".into(), seconds: 0.25, detail: "12 objects".into() },
            Row { step: "data".into(), seconds: 75.5, detail: "3 tables".into() },
        ];
        let table = summary(&rows, 75.75);
        assert!(table.contains("\nschema     0.250 s  12 objects\n"), "{table}");
        assert!(table.contains("\ndata       1m15.5s  3 tables\n"), "{table}");
        assert!(table.ends_with("\ntotal      1m15.8s\n"), "{table}");
    }
}
