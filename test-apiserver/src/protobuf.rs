//! Just enough of the Kubernetes protobuf encoding for kubectl's imperative creates: `kubectl
//! create namespace|configmap|secret|serviceaccount` send `application/vnd.kubernetes.protobuf` bodies (the
//! typed client), whereas `apply`, `create -f`, `edit`, `patch`, `label` send JSON. Decoded:
//! the `k8s\0` envelope (runtime.Unknown) and the Namespace, ConfigMap, Secret and
//! ServiceAccount messages with
//! the ObjectMeta fields a create carries (name, generateName, namespace, labels,
//! annotations). Any other kind is refused (415) with a message saying so.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};

const MAGIC: &[u8] = b"k8s\0";

/// One field of a message: its number and its value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err("varint too long".into())
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, String> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        let f = match wire {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 | 5 => {
                pos += if wire == 1 { 8 } else { 4 };
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|e| e.to_string())?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated field")?;
                let b = &buf[pos..end];
                pos = end;
                Field::Bytes(b)
            }
            w => return Err(format!("unsupported wire type {w}")),
        };
        if pos > buf.len() {
            return Err("truncated message".into());
        }
        out.push((num, f));
    }
    Ok(out)
}

fn string(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|e| e.to_string())
}

/// A `map<string, string>` (or `map<string, bytes>`, base64 as in JSON) entry into `into`.
fn map_entry(b: &[u8], bytes_values: bool, into: &mut Map<String, Value>) -> Result<(), String> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(k)) => key = string(k)?,
            (2, Field::Bytes(v)) if bytes_values => value = json!(B64.encode(v)),
            (2, Field::Bytes(v)) => value = json!(string(v)?),
            _ => {}
        }
    }
    into.insert(key, value);
    Ok(())
}

fn object_meta(b: &[u8]) -> Result<Value, String> {
    let mut meta = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(v)) => {
                meta.insert("name".into(), json!(string(v)?));
            }
            (2, Field::Bytes(v)) => {
                meta.insert("generateName".into(), json!(string(v)?));
            }
            (3, Field::Bytes(v)) => {
                meta.insert("namespace".into(), json!(string(v)?));
            }
            (11, Field::Bytes(v)) => map_entry(v, false, &mut labels)?,
            (12, Field::Bytes(v)) => map_entry(v, false, &mut annotations)?,
            _ => {}
        }
    }
    if !labels.is_empty() {
        meta.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(Value::Object(meta))
}

fn body(kind: &str, raw: &[u8]) -> Result<Value, String> {
    let mut obj = Map::new();
    let mut data = Map::new();
    let mut other = Map::new();
    for (n, f) in fields(raw)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(m)) => {
                obj.insert("metadata".into(), object_meta(m)?);
            }
            ("Namespace", 2, Field::Bytes(spec)) => {
                let finalizers: Vec<Value> = fields(spec)?
                    .into_iter()
                    .filter_map(|(n, f)| match (n, f) {
                        (1, Field::Bytes(s)) => string(s).ok().map(Value::from),
                        _ => None,
                    })
                    .collect();
                obj.insert("spec".into(), json!({"finalizers": finalizers}));
            }
            ("ConfigMap", 2, Field::Bytes(e)) => map_entry(e, false, &mut data)?,
            ("ConfigMap", 3, Field::Bytes(e)) => map_entry(e, true, &mut other)?,
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Field::Bytes(e)) => map_entry(e, true, &mut data)?,
            ("Secret", 3, Field::Bytes(t)) => {
                obj.insert("type".into(), json!(string(t)?));
            }
            ("Secret", 4, Field::Bytes(e)) => map_entry(e, false, &mut other)?,
            ("ServiceAccount", 4, Field::Varint(v)) => {
                obj.insert("automountServiceAccountToken".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !other.is_empty() {
        let key = if kind == "Secret" {
            "stringData"
        } else {
            "binaryData"
        };
        obj.insert(key.into(), Value::Object(other));
    }
    Ok(Value::Object(obj))
}

/// Decodes a protobuf request body into the JSON object it stands for. Err: a message for a
/// 415 (unsupported kind) or a 400 (malformed).
pub fn decode(buf: &[u8]) -> Result<Value, (u16, String)> {
    let bad = |m: String| (400u16, format!("malformed protobuf body: {m}"));
    let rest = buf
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("no k8s envelope".into()))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (n, f) in fields(rest).map_err(bad)? {
        match (n, f) {
            (1, Field::Bytes(tm)) => {
                for (n, f) in fields(tm).map_err(bad)? {
                    match (n, f) {
                        (1, Field::Bytes(v)) => api_version = string(v).map_err(bad)?,
                        (2, Field::Bytes(k)) => kind = string(k).map_err(bad)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    if !matches!(
        kind.as_str(),
        "Namespace" | "ConfigMap" | "Secret" | "ServiceAccount"
    ) {
        return Err((
            415,
            format!(
                "this test API server decodes protobuf bodies only for Namespace, ConfigMap, Secret and ServiceAccount (got {kind:?}); send JSON (kubectl apply -f / create -f do)"
            ),
        ));
    }
    let mut obj = body(&kind, raw).map_err(bad)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(field: u8, b: &[u8]) -> Vec<u8> {
        let mut v = vec![(field << 3) | 2, u8::try_from(b.len()).unwrap()];
        v.extend_from_slice(b);
        v
    }

    #[test]
    fn decodes_a_secret() {
        let meta = [
            ld(1, b"tls"),
            ld(11, &[ld(1, b"app"), ld(2, b"web")].concat()),
        ]
        .concat();
        let secret = [
            ld(1, &meta),
            ld(2, &[ld(1, b"tls.crt"), ld(2, b"PEM")].concat()),
            ld(3, b"kubernetes.io/tls"),
        ]
        .concat();
        let unknown = [
            ld(1, &[ld(1, b"v1"), ld(2, b"Secret")].concat()),
            ld(2, &secret),
        ]
        .concat();
        let obj = decode(&[MAGIC, &unknown].concat()).unwrap();
        assert_eq!(obj["kind"], "Secret");
        assert_eq!(obj["metadata"]["name"], "tls");
        assert_eq!(obj["metadata"]["labels"]["app"], "web");
        assert_eq!(obj["data"]["tls.crt"], B64.encode("PEM"));
        assert_eq!(obj["type"], "kubernetes.io/tls");
        let pod = [ld(1, &[ld(1, b"v1"), ld(2, b"Pod")].concat()), ld(2, b"")].concat();
        assert_eq!(decode(&[MAGIC, &pod].concat()).unwrap_err().0, 415);
        assert_eq!(decode(b"k8s\0\x0a\xff").unwrap_err().0, 400);
    }
}
