//! OpenAPI 3.0/3.1 and Swagger 2.0 documents converted to MCP tools.
//!
//! Not built yet: this crate is a placeholder so the workspace layout of
//! `DESIGN.md` holds. The converter lands with its own issue.
