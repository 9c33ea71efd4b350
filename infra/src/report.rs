//! What a step found, as a table for people or JSON for scripts.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Worth a look; does not stop the migration.
    Warn,
    /// A blocker: the step exits non-zero.
    Fail,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
    /// What to do about a warning or a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(name: &str, detail: String) -> Self {
        Self { name: name.into(), status: Status::Ok, detail, fix: None }
    }

    pub fn warn(name: &str, detail: String, fix: &str) -> Self {
        Self { name: name.into(), status: Status::Warn, detail, fix: Some(fix.into()) }
    }

    pub fn fail(name: &str, detail: String, fix: &str) -> Self {
        Self { name: name.into(), status: Status::Fail, detail, fix: Some(fix.into()) }
    }
}

pub fn any_failed(checks: &[Check]) -> bool {
    checks.iter().any(|check| check.status == Status::Fail)
}

/// A plain-text table: one row per check, the fix indented under it.
pub fn table(checks: &[Check]) -> String {
    let width = checks.iter().map(|check| check.name.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        let status = match check.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        };
        out.push_str(&format!("{status}  {:width$}  {}\n", check.name, check.detail));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("      {:width$}  fix: {fix}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_names_and_puts_fixes_under_their_check() {
        let checks = [Check::ok("a", "fine".into()), Check::fail("longer", "broken".into(), "mend it")];
        assert_eq!(table(&checks), "ok    a       fine\nFAIL  longer  broken\n              fix: mend it\n");
    }
}
