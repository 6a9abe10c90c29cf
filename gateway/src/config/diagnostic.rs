//! Config errors that name the file, the line and column, and the key path.

use std::fmt;
use std::path::PathBuf;

/// One problem in a config file.
///
/// Displayed as `FILE:LINE:COL: PATH: MESSAGE`; the parts that are not known are left out
/// (`FILE: MESSAGE` for an unreadable file, no `PATH: ` for the whole document).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// The config file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Key path such as `binds[0].listeners[0].routes[2].policies.retry.attempts`; empty for the
    /// whole document. See [`crate::config::Source::diagnostic`] for the syntax.
    pub path: String,
    /// What is wrong, in words.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic about the whole file, without a position (e.g. the file cannot be read).
    pub fn whole_file(file: impl Into<PathBuf>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.into(),
            line: None,
            column: None,
            path: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Every problem found in a config file, in file order.
///
/// Displayed one diagnostic per line, after a first line `N errors in FILE` when there is more
/// than one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl ConfigErrors {
    /// The diagnostics.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.0
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none (a `ConfigErrors` normally has at least one).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for ConfigErrors {
    fn from(d: Diagnostic) -> Self {
        ConfigErrors(vec![d])
    }
}

impl From<Vec<Diagnostic>> for ConfigErrors {
    fn from(v: Vec<Diagnostic>) -> Self {
        ConfigErrors(v)
    }
}

impl IntoIterator for ConfigErrors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl std::error::Error for ConfigErrors {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no config errors"),
            [one] => write!(f, "{one}"),
            all => {
                write!(f, "{} errors in {}", all.len(), all[0].file.display())?;
                for d in all {
                    write!(f, "\n{d}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(line: Option<usize>, column: Option<usize>, path: &str, message: &str) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("gw.yaml"),
            line,
            column,
            path: path.into(),
            message: message.into(),
        }
    }

    #[test]
    fn diagnostic_display_omits_unknown_parts() {
        assert_eq!(
            diag(Some(3), Some(5), "binds[0].port", "expected integer").to_string(),
            "gw.yaml:3:5: binds[0].port: expected integer"
        );
        assert_eq!(
            diag(Some(3), None, "binds", "bad").to_string(),
            "gw.yaml:3: binds: bad"
        );
        assert_eq!(
            diag(None, None, "", "cannot read").to_string(),
            "gw.yaml: cannot read"
        );
        assert_eq!(
            diag(Some(1), Some(1), "", "empty").to_string(),
            "gw.yaml:1:1: empty"
        );
    }

    #[test]
    fn config_errors_display_counts_when_several() {
        let one = ConfigErrors(vec![diag(Some(2), Some(1), "a", "x")]);
        assert_eq!(one.to_string(), "gw.yaml:2:1: a: x");
        let two = ConfigErrors(vec![
            diag(Some(2), Some(1), "a", "x"),
            diag(Some(4), Some(3), "b[0]", "y"),
        ]);
        assert_eq!(
            two.to_string(),
            "2 errors in gw.yaml\ngw.yaml:2:1: a: x\ngw.yaml:4:3: b[0]: y"
        );
        let err: &dyn std::error::Error = &two;
        assert!(err.to_string().starts_with("2 errors"));
    }
}
