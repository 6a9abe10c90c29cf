//! The config file: its format ([`file`]), value syntaxes ([`units`]), and loading with
//! validation that reports every error with its file, line and key path.
//!
//! Loading runs in stages so that one pass reports everything it can:
//! 1. parse YAML (JSON is a subset) into a JSON value, remembering where each key path sits;
//! 2. expand `${VAR}` in string values (an unset variable is an error naming it);
//! 3. validate against the JSON Schema generated from [`file::ConfigFile`];
//! 4. deserialize into [`file::ConfigFile`];
//! 5. semantic checks while lowering into the runtime model ([`crate::model`]), whose errors
//!    carry key paths that [`Source::diagnostic`] turns into lines.

pub mod ai;
pub mod file;
pub mod guard;
pub mod pool;
pub mod units;

mod diagnostic;
mod source;

pub use diagnostic::{ConfigErrors, Diagnostic};
pub use source::{schema, Checked, Source};
