//! Builders for config templates, so a test writes only the part it is about (usually its
//! routes) and not the `binds:`/`listeners:` preamble around it.
//!
//! Fragments are YAML written at any indentation: the common indentation is removed and the
//! fragment is re-indented to where it belongs, so a raw string can be written as
//!
//! ```text
//! routes_config(r#"
//! - name: r
//!   backends: [{ host: "{up}" }]
//! "#)
//! ```
//!
//! The results are templates like any other: `{port}`, `{up}`, ... are filled later.

/// Re-indents `yaml`: drops leading and trailing blank lines, removes the indentation common to
/// its non-blank lines, then indents every non-blank line by `by` spaces. Each line ends with
/// `\n`.
pub fn indent(yaml: &str, by: usize) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let blank = |l: &&str| l.trim().is_empty();
    let first = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let last = lines
        .iter()
        .rposition(|l| !blank(l))
        .map_or(first, |i| i + 1);
    let lines = &lines[first..last];
    let common = lines
        .iter()
        .filter(|l| !blank(l))
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let pad = " ".repeat(by);
    lines
        .iter()
        .map(|l| {
            if blank(l) {
                "\n".to_string()
            } else {
                format!("{pad}{}\n", &l[common..])
            }
        })
        .collect()
}

/// One entry of `binds:`: `{port_var}` on 127.0.0.1 with the given listeners, each a pair of
/// its fields other than `routes` (`name: main`, maybe `hostname:`, `protocol:`, ...) and its
/// routes (a YAML list).
pub fn bind(port_var: &str, listeners: &[(&str, &str)]) -> String {
    let mut s = format!("- port: {{{port_var}}}\n  address: 127.0.0.1\n  listeners:\n");
    for (fields, routes) in listeners {
        let fields = indent(fields, 4);
        s.push_str("  - ");
        s.push_str(&fields[4..]);
        s.push_str("    routes:\n");
        s.push_str(&indent(routes, 4));
    }
    s
}

/// A whole config: one bind on `{port}` (127.0.0.1) with one listener `main` serving `routes`.
/// Top-level sections (`backends:`, more binds via [`bind`]) may be appended to the result.
pub fn routes_config(routes: &str) -> String {
    format!("binds:\n{}", bind("port", &[("name: main", routes)]))
}

/// `config` with a top-level `config:` section holding `settings` put in front.
pub fn with_settings(settings: &str, config: &str) -> String {
    format!("config:\n{}{config}", indent(settings, 2))
}
