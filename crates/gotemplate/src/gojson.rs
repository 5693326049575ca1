//! Go's encoding/json Marshal of template values, which Helm's `toJson` and sprig's
//! `toPrettyJson`/`toRawJson` print and `toYaml` goes through: keys sorted, `<`, `>`
//! and `&` escaped (unless raw), floats in Go's shortest form (`1e+21`, `1e-7`).

use crate::value::Value;

/// json.Marshal; `escape_html` is Go's default (false for SetEscapeHTML(false)).
pub fn marshal(value: &Value, escape_html: bool) -> Result<String, String> {
    let mut out = String::new();
    write(value, escape_html, None, 0, &mut out)?;
    Ok(out)
}

/// json.MarshalIndent(value, "", indent).
pub fn marshal_indent(value: &Value, indent: &str, escape_html: bool) -> Result<String, String> {
    let mut out = String::new();
    write(value, escape_html, Some(indent), 0, &mut out)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(indent) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn write(
    value: &Value,
    escape_html: bool,
    indent: Option<&str>,
    depth: usize,
    out: &mut String,
) -> Result<(), String> {
    match value {
        Value::NoValue | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) | Value::Int64(n) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(&float(*f)?),
        Value::String(s) => quote(s, escape_html, out),
        Value::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                write(item, escape_html, indent, depth + 1, out)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(map) => {
            let entries = map.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                quote(key, escape_html, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write(item, escape_html, indent, depth + 1, out)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Value::Object(object) => {
            return Err(format!("json: unsupported type: {}", object.type_name()));
        }
    }
    Ok(())
}

/// A float64 as encoding/json writes it.
pub fn float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::gofmt::format_float_shortest(f)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // %e, then e-07 becomes e-7 as Go cleans it.
        let text = crate::gofmt::format_float_shortest(f);
        let text = if text.contains('e') {
            text
        } else {
            format!("{f:e}")
        };
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "+00"));
        let sign = if exp.starts_with('-') { "-" } else { "+" };
        let digits = exp.trim_start_matches(['+', '-']).trim_start_matches('0');
        let digits = if digits.is_empty() { "0" } else { digits };
        return Ok(format!("{mantissa}e{sign}{digits}"));
    }
    // Shortest digits in positional form.
    let text = format!("{f}");
    Ok(text)
}

fn quote(s: &str, escape_html: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_as_go_json_writes_them() {
        for (f, text) in [
            (3.0, "3"),
            (2.5, "2.5"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1_000_000.0, "1000000"),
            (0.000001, "0.000001"),
            (-0.5, "-0.5"),
            (123456789.0, "123456789"),
        ] {
            assert_eq!(float(f).expect("finite"), text, "{f}");
        }
    }

    #[test]
    fn strings_escape_as_go_does() {
        let mut out = String::new();
        quote("a<b>&\"\n\u{1}", true, &mut out);
        assert_eq!(out, "\"a\\u003cb\\u003e\\u0026\\\"\\n\\u0001\"");
    }
}
