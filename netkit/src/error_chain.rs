//! One line for an error and its causes.

/// `error: cause: cause…`. A client's own message often says only "error sending request",
/// while the reason (refused, certificate `UnknownIssuer`…) is further down the chain; a cause
/// whose text the line already holds is not repeated (many errors quote their source).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{msg}")]
    struct E {
        msg: &'static str,
        #[source]
        source: Option<Box<E>>,
    }

    #[test]
    fn causes_follow_once() {
        let root = E {
            msg: "UnknownIssuer",
            source: None,
        };
        let quoting = E {
            msg: "tls: UnknownIssuer",
            source: Some(Box::new(root)),
        };
        let top = E {
            msg: "error sending request",
            source: Some(Box::new(quoting)),
        };
        assert_eq!(
            error_chain(&top),
            "error sending request: tls: UnknownIssuer"
        );
    }
}
