//! Kubernetes manifests (YAML, several documents) to JSON values, which the `k8s-openapi`,
//! `gateway-api` and CRD types deserialize from. Used by tests and by the fixtures of the
//! Kubernetes source; the workspace's YAML parser is `yaml-rust2`.

use serde_json::{Map, Number, Value};
use yaml_rust2::{Yaml, YamlLoader};

/// Why a manifest could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The text is not YAML.
    #[error("invalid YAML: {0}")]
    Yaml(#[from] yaml_rust2::ScanError),
    /// A value that JSON cannot hold (an alias, a non-string key, a bad number).
    #[error("unsupported YAML value: {0}")]
    Unsupported(String),
}

/// Every document of `text` as JSON, skipping empty documents.
pub fn documents(text: &str) -> Result<Vec<Value>, ManifestError> {
    let docs = YamlLoader::load_from_str(text)?;
    let mut out = Vec::new();
    for doc in docs {
        match to_json(&doc)? {
            Value::Null => {}
            value => out.push(value),
        }
    }
    Ok(out)
}

fn to_json(yaml: &Yaml) -> Result<Value, ManifestError> {
    Ok(match yaml {
        Yaml::Null | Yaml::BadValue => Value::Null,
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Integer(i) => Value::Number((*i).into()),
        Yaml::Real(text) => {
            let f: f64 = text
                .parse()
                .map_err(|_| ManifestError::Unsupported(text.clone()))?;
            Value::Number(
                Number::from_f64(f).ok_or_else(|| ManifestError::Unsupported(text.clone()))?,
            )
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Hash(hash) => {
            let mut map = Map::new();
            for (k, v) in hash {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(ManifestError::Unsupported(format!("key {other:?}"))),
                };
                map.insert(key, to_json(v)?);
            }
            Value::Object(map)
        }
        Yaml::Alias(_) => return Err(ManifestError::Unsupported("alias".into())),
    })
}
