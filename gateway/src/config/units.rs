//! Value types of the config file with their own syntax: durations (`500ms`, `5s`, `1m`; at
//! most ten years) and byte sizes (`4MiB` or a plain number of bytes). Both are netkit's, so
//! the gateway file, MCP targets and OpenAPI targets share one grammar.

pub use netkit::{ByteSize, Duration, BYTE_SIZE_PATTERN, DURATION_PATTERN};
