//! Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and field
//! selectors (`=`, `==`, `!=` on the fields the real server allows for the kind:
//! `metadata.name` and `metadata.namespace` everywhere, plus e.g. Secret `type`, Pod
//! `spec.nodeName`/`status.phase`, Event `involvedObject.*`), as list and watch take them.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label or field selector; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector {
    reqs: Vec<Req>,
    fields: bool,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let s = s.trim();
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

impl Selector {
    /// Parses a label selector.
    pub fn labels(s: &str) -> Result<Selector, String> {
        Self::parse(s, false)
    }

    /// Parses a field selector for objects of `kind`; a field the real server does not
    /// index for that kind is refused, as there.
    pub fn fields(s: &str, kind: &str) -> Result<Selector, String> {
        let sel = Self::parse(s, true)?;
        for r in &sel.reqs {
            let key = match r {
                Req::Eq(k, _) | Req::Ne(k, _) => k,
                _ => {
                    return Err(format!(
                        "field selector {s:?}: only =, == and != are supported"
                    ))
                }
            };
            if key != "metadata.name"
                && key != "metadata.namespace"
                && !kind_fields(kind).contains(&key.as_str())
            {
                return Err(format!("field label not supported: {key}"));
            }
        }
        Ok(sel)
    }

    fn parse(s: &str, fields: bool) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some((k, v)) = part.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some(idx) = part.find(" notin ") {
                let vals = set_values(&part[idx + 7..]).ok_or(format!("bad selector {part:?}"))?;
                Req::NotIn(part[..idx].trim().into(), vals)
            } else if let Some(idx) = part.find(" in ") {
                let vals = set_values(&part[idx + 4..]).ok_or(format!("bad selector {part:?}"))?;
                Req::In(part[..idx].trim().into(), vals)
            } else if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else if part.contains(char::is_whitespace) || part.contains(['(', ')']) {
                return Err(format!("unable to parse requirement: {part:?}"));
            } else {
                Req::Exists(part.into())
            };
            reqs.push(req);
        }
        Ok(Selector { reqs, fields })
    }

    /// Whether `obj` matches.
    pub fn matches(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| {
            let get = |k: &str| -> Option<String> {
                if self.fields {
                    let mut v = obj;
                    for part in k.split('.') {
                        v = v.get(part)?;
                    }
                    match v {
                        Value::String(s) => Some(s.clone()),
                        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
                        _ => None,
                    }
                } else {
                    obj["metadata"]["labels"][k].as_str().map(String::from)
                }
            };
            match r {
                Req::Eq(k, v) => get(k).as_deref() == Some(v.as_str()),
                // A field selector `!=` on a missing field matches, as for labels.
                Req::Ne(k, v) => get(k).as_deref() != Some(v.as_str()),
                Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
                Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
                Req::Exists(k) => get(k).is_some(),
                Req::NotExists(k) => get(k).is_none(),
            }
        })
    }

    /// True when it matches everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }
}

/// The kind-specific field labels of the real server (besides metadata.name/namespace).
fn kind_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Secret" => &["type"],
        "Namespace" => &["status.phase"],
        "Pod" => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        "Event" => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_forms() {
        let obj = json!({"metadata": {"name": "a", "namespace": "n", "labels": {"app": "web", "tier": "fe"}}});
        for (sel, want) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, api)", true),
            ("app notin (web)", false),
            ("tier", true),
            ("!tier", false),
            ("missing", false),
            ("!missing", true),
            ("app=web,tier in (fe)", true),
            ("app=web,tier=be", false),
            ("", true),
        ] {
            assert_eq!(Selector::labels(sel).unwrap().matches(&obj), want, "{sel}");
        }
        let f = Selector::fields("metadata.name=a,metadata.namespace!=x", "ConfigMap").unwrap();
        assert!(f.matches(&obj));
        assert!(Selector::fields("spec.x=1", "ConfigMap").is_err());
        assert!(Selector::fields("type=Opaque", "ConfigMap").is_err());
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/tls"});
        assert!(Selector::fields("type=kubernetes.io/tls", "Secret")
            .unwrap()
            .matches(&secret));
        assert!(!Selector::fields("type!=kubernetes.io/tls", "Secret")
            .unwrap()
            .matches(&secret));
        assert!(Selector::labels("a b").is_err());
    }
}
