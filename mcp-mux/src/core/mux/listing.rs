//! The merged lists (`tools/list`, `prompts/list`, `resources/list`,
//! `resources/templates/list`): each target's page, renamed, without what the target's tool
//! filter or the caller's `mcpAuthorization` rules leave out (see [`crate::policy`]).

use rmcp::model::{
    CacheScope, ErrorData, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, ServerResult,
};

use super::Multiplexer;
use crate::core::lists::Renamer;
use crate::policy::{Caller, Item};
use crate::upstream::list_cache::ListKind;
use authz::McpKind;

impl Multiplexer {
    /// Whether the caller (when the route has rules) may see `item` in the list answering
    /// `method`.
    fn listed(&self, caller: Option<&Caller>, method: &str, item: Item<'_>) -> bool {
        caller.is_none_or(|c| c.lists(method, item, &**self.metrics()))
    }

    /// `tools/list`: the targets' tools, renamed, without those the target's filter or the
    /// caller's rules (`caller`, when the route has rules) leave out.
    pub async fn list_tools(
        &self,
        cursor: Option<String>,
        caller: Option<&Caller>,
    ) -> Result<ListToolsResult, ErrorData> {
        let kind = ListKind::Tools;
        let (pages, next) = self.fanout().list(kind, cursor).await?;
        let mut renamer = Renamer::new(&self.inner.upstreams, &self.inner.names, kind);
        let mut tools = Vec::new();
        for page in pages {
            let ServerResult::ListToolsResult(r) = page.result else {
                continue;
            };
            let up = self.upstream(page.index);
            let filter = &up.target.filter;
            for mut tool in r.tools {
                if !filter.allows(&tool.name) {
                    continue;
                }
                let item = Item::new(McpKind::Tool, up.name(), &tool.name);
                if !self.listed(caller, "tools/list", item) {
                    continue;
                }
                if let Some(exposed) = renamer.rename(page.index, &tool.name) {
                    tool.name = exposed.into();
                    tools.push(tool);
                }
            }
        }
        let mut result = ListToolsResult::with_all_items(tools)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `prompts/list`, without the prompts the caller's rules leave out.
    pub async fn list_prompts(
        &self,
        cursor: Option<String>,
        caller: Option<&Caller>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let kind = ListKind::Prompts;
        let (pages, next) = self.fanout().list(kind, cursor).await?;
        let mut renamer = Renamer::new(&self.inner.upstreams, &self.inner.names, kind);
        let mut prompts = Vec::new();
        for page in pages {
            let ServerResult::ListPromptsResult(r) = page.result else {
                continue;
            };
            let target = self.upstream(page.index).name();
            for mut prompt in r.prompts {
                let item = Item::new(McpKind::Prompt, target, &prompt.name);
                if !self.listed(caller, "prompts/list", item) {
                    continue;
                }
                if let Some(exposed) = renamer.rename(page.index, &prompt.name) {
                    prompt.name = exposed;
                    prompts.push(prompt);
                }
            }
        }
        let mut result = ListPromptsResult::with_all_items(prompts)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `resources/list`, without the resources the caller's rules leave out.
    pub async fn list_resources(
        &self,
        cursor: Option<String>,
        caller: Option<&Caller>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let (pages, next) = self.fanout().list(ListKind::Resources, cursor).await?;
        let mut resources = Vec::new();
        for page in pages {
            let ServerResult::ListResourcesResult(r) = page.result else {
                continue;
            };
            let target = self.upstream(page.index).name();
            for mut res in r.resources {
                let item = Item::new(McpKind::Resource, target, &res.uri);
                if !self.listed(caller, "resources/list", item) {
                    continue;
                }
                res.uri = self.wrap_uri(page.index, &res.uri);
                resources.push(res);
            }
        }
        let mut result = ListResourcesResult::with_all_items(resources)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }

    /// `resources/templates/list`, without the templates the caller's rules leave out (a
    /// template is a resource whose `name` is its URI template).
    pub async fn list_resource_templates(
        &self,
        cursor: Option<String>,
        caller: Option<&Caller>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let (pages, next) = self
            .fanout()
            .list(ListKind::ResourceTemplates, cursor)
            .await?;
        let mut templates = Vec::new();
        for page in pages {
            let ServerResult::ListResourceTemplatesResult(r) = page.result else {
                continue;
            };
            let target = self.upstream(page.index).name();
            for mut t in r.resource_templates {
                let item = Item::new(McpKind::Resource, target, &t.uri_template);
                if !self.listed(caller, "resources/templates/list", item) {
                    continue;
                }
                t.uri_template = self.wrap_uri(page.index, &t.uri_template);
                templates.push(t);
            }
        }
        let mut result = ListResourceTemplatesResult::with_all_items(templates)
            .with_ttl_ms(0)
            .with_cache_scope(CacheScope::Private);
        result.next_cursor = next;
        Ok(result)
    }
}
