//! Objects over etcd: create, get, list (at a revision, paginated, filtered), update with
//! optimistic concurrency, the `/status` subresource, patch and delete. An object is stored as
//! JSON without `metadata.resourceVersion`; reads set it to the key's etcd mod revision.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::etcd::{prefix_end, EtcdClient, Kv, TxnOutcome};
use crate::patch::{self, PatchKind};
use crate::resources::ResourceInfo;
use crate::selectors::Selector;
use crate::status::ApiError;

/// The storage of every resource.
#[derive(Clone)]
pub struct Store {
    pub etcd: EtcdClient,
    /// `dryRun=All`: every check is made, nothing is written.
    pub dry_run: bool,
}

/// Parameters of a list.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub labels: Selector,
    pub fields: Selector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// Decodes a stored value into an object with `resourceVersion` set.
pub fn decode(kv: &Kv) -> Option<Value> {
    let mut obj: Value = serde_json::from_slice(&kv.value).ok()?;
    obj.get_mut("metadata")?
        .as_object_mut()?
        .insert("resourceVersion".into(), json!(kv.mod_revision.to_string()));
    Some(obj)
}

/// Decodes an object of `ri`, served as `ri`'s version: the versions of one CRD share the
/// storage, and (as with the real server's `None` conversion) only `apiVersion` changes.
pub fn decode_as(kv: &Kv, ri: &ResourceInfo) -> Option<Value> {
    let mut obj = decode(kv)?;
    if let Some(o) = obj.as_object_mut() {
        o.insert("apiVersion".into(), json!(ri.api_version()));
    }
    Some(obj)
}

fn encode(obj: &Value) -> Vec<u8> {
    let mut o = obj.clone();
    if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    serde_json::to_vec(&o).unwrap_or_default()
}

fn with_rv(mut obj: Value, rev: i64) -> Value {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("resourceVersion".into(), json!(rev.to_string()));
    }
    obj
}

/// An object as `PartialObjectMetadata` (what `Accept: ...;as=PartialObjectMetadata` asks for:
/// kube's `get_metadata`, `list_metadata`, `watch_metadata`, `metadata_watcher`).
pub fn partial_metadata(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"].clone()})
}

/// A list as `PartialObjectMetadataList`.
pub fn partial_metadata_list(list: &Value) -> Value {
    let items: Vec<Value> = list["items"]
        .as_array()
        .map(|a| a.iter().map(partial_metadata).collect())
        .unwrap_or_default();
    json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": list["metadata"].clone(), "items": items})
}

/// A fresh random uid in the UUID v4 form.
fn new_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// Now, RFC 3339 in seconds, as metav1.Time.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Everything but metadata and status: what bumps `metadata.generation` when it changes.
fn spec_part(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
    }
    o
}

/// The continue token: the revision of the first page and the key to resume after.
#[derive(serde::Serialize, serde::Deserialize)]
struct Continue {
    rv: i64,
    start: String,
}

fn parse_rv(s: &str) -> Result<i64, ApiError> {
    s.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("invalid resource version: {s:?}")))
}

impl Store {
    pub fn new(etcd: EtcdClient) -> Self {
        Store {
            etcd,
            dry_run: false,
        }
    }

    /// The same store answering writes without making them (`dryRun=All`).
    pub fn dry(&self) -> Self {
        Store {
            etcd: self.etcd.clone(),
            dry_run: true,
        }
    }

    /// The list prefix of a resource, narrowed to a namespace.
    pub fn list_prefix(ri: &ResourceInfo, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if ri.namespaced => format!("{}{}/", ri.prefix(), ns),
            _ => ri.prefix(),
        }
    }

    pub async fn get(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let (_, kv) = self.etcd.get(&ri.key(ns, name)).await?;
        kv.as_ref()
            .and_then(|kv| decode_as(kv, ri))
            .ok_or_else(|| ApiError::not_found(ri, name))
    }

    /// A list answer (`<Kind>List`), read at one revision across every page.
    pub async fn list(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Value, ApiError> {
        let prefix = Self::list_prefix(ri, ns);
        let end = prefix_end(&prefix);
        let (mut revision, start) = match &opts.continue_token {
            Some(tok) => {
                let c: Continue = B64
                    .decode(tok)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                if !c.start.starts_with(&prefix) {
                    return Err(ApiError::bad_request("continue token is for another list"));
                }
                (c.rv, c.start)
            }
            None => {
                let rev = match (
                    opts.resource_version.as_deref(),
                    opts.resource_version_match.as_deref(),
                ) {
                    (None | Some("") | Some("0"), _) => 0,
                    // Any state not older than N: the latest is one.
                    (Some(_), Some("NotOlderThan")) => 0,
                    (Some(rv), _) => parse_rv(rv)?,
                };
                (rev, prefix.clone())
            }
        };
        let read = self
            .etcd
            .range(&start, Some(&end), revision, 0)
            .await
            .map_err(|e| match (&e, &opts.continue_token) {
                (crate::etcd::EtcdError::Compacted(_), Some(_)) => ApiError::gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                ),
                _ => ApiError::from(e),
            })?;
        if revision == 0 {
            revision = read.revision;
        }
        let limit = opts.limit.filter(|l| *l > 0);
        let mut items = Vec::new();
        let mut more = false;
        let mut remaining = 0i64;
        for kv in &read.kvs {
            let Some(obj) = decode_as(kv, ri) else {
                continue;
            };
            if !opts.labels.matches(&obj) || !opts.fields.matches(&obj) {
                continue;
            }
            if let Some(l) = limit {
                if items.len() >= l {
                    more = true;
                    remaining += 1;
                    continue;
                }
            }
            items.push((kv.key.clone(), obj));
        }
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if more {
            if let Some((last_key, _)) = items.last() {
                // Resume just after the last key returned.
                let mut start = last_key.clone();
                start.push('\0');
                let tok = serde_json::to_vec(&Continue {
                    rv: revision,
                    start,
                })
                .unwrap_or_default();
                metadata["continue"] = json!(B64.encode(tok));
                metadata["remainingItemCount"] = json!(remaining);
            }
        }
        Ok(json!({
            "kind": format!("{}List", ri.kind),
            "apiVersion": ri.api_version(),
            "metadata": metadata,
            "items": items.into_iter().map(|(_, o)| o).collect::<Vec<_>>(),
        }))
    }

    /// Checks and completes an object to create in namespace `ns`.
    fn prepare_create(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        mut obj: Value,
    ) -> Result<(String, Value), ApiError> {
        check_type(ri, &mut obj)?;
        let meta = obj
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if name.is_empty() {
            if let Some(g) = meta.get("generateName").and_then(Value::as_str) {
                let suffix: String = (0..5)
                    .map(|_| {
                        let c = b"bcdfghjklmnpqrstvwxz2456789"[rand::random_range(0..27)];
                        c as char
                    })
                    .collect();
                name = format!("{g}{suffix}");
                meta.insert("name".into(), json!(name));
            }
        }
        validate_name(&name)?;
        if ri.namespaced {
            let ns = ns.ok_or_else(|| ApiError::bad_request("the namespace is required"))?;
            match meta.get("namespace").and_then(Value::as_str) {
                Some(given) if !given.is_empty() && given != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {
                    meta.insert("namespace".into(), json!(ns));
                }
            }
        } else {
            meta.remove("namespace");
        }
        meta.remove("resourceVersion");
        meta.remove("deletionTimestamp");
        meta.insert("uid".into(), json!(new_uid()));
        meta.insert("creationTimestamp".into(), json!(now()));
        meta.insert("generation".into(), json!(1));
        if ri.kind == "Namespace" && ri.group.is_empty() {
            // As the real server (since 1.22): every namespace carries its name as a label, so
            // that selectors (a listener's allowedRoutes) can pick one namespace by name.
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
        }
        if ri.has_status && ri.kind != "CustomResourceDefinition" {
            if let Some(o) = obj.as_object_mut() {
                o.remove("status");
            }
        }
        if ri.kind == "CustomResourceDefinition" {
            crd_status(&mut obj);
        }
        Ok((name, obj))
    }

    pub async fn create(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        obj: Value,
    ) -> Result<Value, ApiError> {
        let (name, obj) = self.prepare_create(ri, ns, obj)?;
        if self.dry_run {
            let (_, kv) = self.etcd.get(&ri.key(ns, &name)).await?;
            return match kv {
                Some(_) => Err(ApiError::already_exists(ri, &name)),
                None => Ok(obj),
            };
        }
        match self.etcd.create(&ri.key(ns, &name), &encode(&obj)).await? {
            TxnOutcome::Done { revision, .. } => Ok(with_rv(obj, revision)),
            TxnOutcome::Failed { .. } => Err(ApiError::already_exists(ri, &name)),
        }
    }

    /// PUT on the object (`status` false) or its status subresource.
    pub async fn update(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        mut new: Value,
        status: bool,
    ) -> Result<Value, ApiError> {
        check_type(ri, &mut new)?;
        let key = ri.key(ns, name);
        let (_, kv) = self.etcd.get(&key).await?;
        let kv = kv.ok_or_else(|| ApiError::not_found(ri, name))?;
        let old = decode_as(&kv, ri).ok_or_else(|| ApiError::not_found(ri, name))?;
        let expected = match new["metadata"]["resourceVersion"].as_str() {
            Some(rv) if !rv.is_empty() => parse_rv(rv)?,
            _ => kv.mod_revision,
        };
        if expected != kv.mod_revision {
            return Err(ApiError::conflict(ri, name));
        }
        let merged = merge_update(ri, &old, new, name, status)?;
        if self.dry_run {
            return Ok(with_rv(merged, kv.mod_revision));
        }
        match self.etcd.update(&key, &encode(&merged), expected).await? {
            TxnOutcome::Done { revision, .. } => Ok(with_rv(merged, revision)),
            TxnOutcome::Failed { current: None } => Err(ApiError::not_found(ri, name)),
            TxnOutcome::Failed { .. } => Err(ApiError::conflict(ri, name)),
        }
    }

    /// PATCH on the object or its status; retried on a concurrent write unless the patch
    /// pins a resourceVersion.
    pub async fn patch(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        status: bool,
    ) -> Result<Value, ApiError> {
        if kind == PatchKind::Apply {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "server-side apply (application/apply-patch+yaml) is not implemented by this test API server; use client-side kubectl apply or a merge/strategic/JSON patch",
            ));
        }
        if kind == PatchKind::Strategic && ri.custom {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for custom resources",
            ));
        }
        for _ in 0..5 {
            let old = self.get(ri, ns, name).await?;
            let old_rv = old["metadata"]["resourceVersion"].clone();
            let patched = patch::apply(kind, &ri.kind, &old, body)
                .map_err(|m| ApiError::new(422, "Invalid", m))?;
            let pinned = patched["metadata"]["resourceVersion"] != old_rv;
            let mut patched = patched;
            if !pinned {
                patched["metadata"]["resourceVersion"] = old_rv;
            }
            match self.update(ri, ns, name, patched, status).await {
                Err(e) if e.reason == "Conflict" && !pinned => continue,
                other => return other,
            }
        }
        Err(ApiError::conflict(ri, name))
    }

    /// Deletes at once (no finalizers, no graceful deletion) and answers the object as it was.
    pub async fn delete(
        &self,
        ri: &ResourceInfo,
        ns: Option<&str>,
        name: &str,
        precondition_rv: Option<String>,
    ) -> Result<Value, ApiError> {
        let key = ri.key(ns, name);
        for _ in 0..5 {
            let (_, kv) = self.etcd.get(&key).await?;
            let kv = kv.ok_or_else(|| ApiError::not_found(ri, name))?;
            if let Some(rv) = &precondition_rv {
                if parse_rv(rv)? != kv.mod_revision {
                    return Err(ApiError::conflict(ri, name));
                }
            }
            if self.dry_run {
                return decode_as(&kv, ri).ok_or_else(|| ApiError::not_found(ri, name));
            }
            match self.etcd.delete(&key, kv.mod_revision).await? {
                TxnOutcome::Done { .. } => {
                    return decode_as(&kv, ri).ok_or_else(|| ApiError::not_found(ri, name))
                }
                TxnOutcome::Failed { current: None } => return Err(ApiError::not_found(ri, name)),
                TxnOutcome::Failed { .. } => continue,
            }
        }
        Err(ApiError::conflict(ri, name))
    }
}

/// A Secret's `stringData` is folded into `data` (base64) on write and its `type` defaulted to
/// `Opaque`, as the real server does.
fn fold_string_data(ri: &ResourceInfo, obj: &mut Value) {
    if ri.kind != "Secret" || !ri.group.is_empty() {
        return;
    }
    if obj["type"].as_str().is_none_or(str::is_empty) {
        obj["type"] = json!("Opaque");
    }
    let Some(sd) = obj.as_object_mut().and_then(|o| o.remove("stringData")) else {
        return;
    };
    if let Value::Object(sd) = sd {
        if !obj["data"].is_object() {
            obj["data"] = json!({});
        }
        for (k, v) in sd {
            if let Some(s) = v.as_str() {
                obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
            }
        }
    }
}

/// Fills or checks `kind` and `apiVersion`.
fn check_type(ri: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let o = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    match o.get("kind").and_then(Value::as_str) {
        Some(k) if k != ri.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind {k:?} does not match the resource's kind {:?}",
                ri.kind
            )))
        }
        _ => {
            o.insert("kind".into(), json!(ri.kind));
        }
    }
    match o.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != ri.api_version() => {
            return Err(ApiError::bad_request(format!(
                "the apiVersion {v:?} does not match {:?}",
                ri.api_version()
            )))
        }
        _ => {
            o.insert("apiVersion".into(), json!(ri.api_version()));
        }
    }
    if !o.get("metadata").is_some_and(Value::is_object) {
        o.insert("metadata".into(), json!({}));
    }
    fold_string_data(ri, obj);
    Ok(())
}

/// DNS subdomain names (what most kinds require), checked loosely.
fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == ':'
        })
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            422,
            "Invalid",
            format!("metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain is required"),
        ))
    }
}

/// The object an update stores: immutable metadata kept, the status kept (main resource) or
/// only the status taken (status subresource), generation bumped on other changes.
fn merge_update(
    ri: &ResourceInfo,
    old: &Value,
    mut new: Value,
    name: &str,
    status: bool,
) -> Result<Value, ApiError> {
    if let Some(n) = new["metadata"]["name"].as_str() {
        if n != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )));
        }
    }
    if status {
        let mut out = old.clone();
        match new.get("status") {
            Some(s) => out["status"] = s.clone(),
            None => {
                if let Some(o) = out.as_object_mut() {
                    o.remove("status");
                }
            }
        }
        return Ok(out);
    }
    for field in [
        "uid",
        "creationTimestamp",
        "namespace",
        "name",
        "generation",
    ] {
        match old["metadata"].get(field) {
            Some(v) => new["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    if ri.has_status && ri.kind != "CustomResourceDefinition" {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("status");
                }
            }
        }
    }
    if ri.kind == "CustomResourceDefinition" {
        crd_status(&mut new);
    }
    if spec_part(old) != spec_part(&new) {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(1);
        new["metadata"]["generation"] = json!(g + 1);
    }
    Ok(new)
}

/// What the real server reports on a CRD once its names are accepted: Established.
fn crd_status(crd: &mut Value) {
    let storage: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let t = now();
    crd["status"] = json!({
        "acceptedNames": crd["spec"]["names"].clone(),
        "storedVersions": storage,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
        ],
    });
}
