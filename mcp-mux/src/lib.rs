//! Virtual MCP server: aggregates many MCP targets behind one endpoint.
//!
//! Not built yet: this crate is a placeholder so the workspace layout of
//! `DESIGN.md` holds. The virtual MCP server lands with its own issue.
