//! A2A relay: agent card rewriting, JSON-RPC and REST relay, streaming, task ownership.
//!
//! Not built yet: this crate is a placeholder so the workspace layout of
//! `DESIGN.md` holds. The A2A relay lands with its own issue.
