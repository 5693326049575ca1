//! The part of Go's `fmt` that templates reach: `print`, `println`, `printf`, and how
//! an action prints its value. Float formatting follows strconv's shortest `%g`
//! (so 1000000 prints as `1e+06`, as Helm users see it), and a verb that does not fit
//! its operand prints Go's `%!d(string=x)` instead of failing.

use crate::value::Value;

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when
/// neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::String(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        out.push_str(&display(arg));
    }
    out
}

/// `fmt.Sprintln`: operands with `%v`, always separated by spaces, and a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut text = args.iter().map(display).collect::<Vec<_>>().join(" ");
    text.push('\n');
    text
}

/// `%v` of one value.
pub fn display(value: &Value) -> String {
    format_value(value, &Spec::plain('v'))
}

/// Go's `%v` of a float64: strconv's shortest `%g`, exponent from 1e+06 and below
/// 1e-04.
pub fn format_float_shortest(f: f64) -> String {
    if let Some(special) = non_finite(f) {
        return special;
    }
    let (digits, exp) = shortest_digits(f);
    // strconv decides on the exponent form with precision 6 when printing shortest.
    let body = if !(-4..6).contains(&exp) {
        exponent_form(&digits, exp, None)
    } else {
        positional_form(&digits, exp)
    };
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

fn non_finite(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".to_owned())
    } else if f.is_infinite() {
        Some(if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned())
    } else {
        None
    }
}

/// The shortest decimal digits that round-trip `f` (no sign), and the exponent of the
/// first digit: 1234.5 is ("12345", 3).
fn shortest_digits(f: f64) -> (String, i32) {
    let text = format!("{:e}", f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// `d.ddde±XX` from significant digits; `precision` pads with zeros to that many
/// digits after the point.
fn exponent_form(digits: &str, exp: i32, precision: Option<usize>) -> String {
    let mut out = String::new();
    let mut chars = digits.chars();
    out.push(chars.next().unwrap_or('0'));
    let rest: String = chars.collect();
    let rest = match precision {
        Some(p) => format!("{rest:0<p$}"),
        None => rest,
    };
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&rest);
    }
    let sign = if exp < 0 { '-' } else { '+' };
    out.push_str(&format!("e{sign}{:02}", exp.abs()));
    out
}

/// Plain positional notation from significant digits and the first digit's exponent.
fn positional_form(digits: &str, exp: i32) -> String {
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("0.{zeros}{digits}");
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

/// One `%` directive: flags, width, precision, verb.
#[derive(Debug, Clone, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    precision: Option<usize>,
    verb: char,
}

impl Spec {
    fn plain(verb: char) -> Self {
        Spec {
            verb,
            ..Spec::default()
        }
    }
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = take_number(&mut chars, args, &mut next_arg);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(take_number(&mut chars, args, &mut next_arg).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        spec.verb = verb;
        match args.get(next_arg) {
            Some(arg) => {
                next_arg += 1;
                out.push_str(&format_value(arg, &spec));
            }
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..]
            .iter()
            .map(|a| match a {
                Value::NoValue | Value::Nil => "<nil>".to_owned(),
                other => format!("{}={}", other.type_name(), display(other)),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// A width or precision: digits, or `*` taking an int operand.
fn take_number(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    args: &[Value],
    next_arg: &mut usize,
) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let n = args.get(*next_arg).and_then(Value::as_int);
        *next_arg += 1;
        return n.map(|n| n.unsigned_abs() as usize);
    }
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

/// One operand under one directive, padded to the width.
fn format_value(value: &Value, spec: &Spec) -> String {
    match value {
        Value::List(items) if spec.verb != 'T' && spec.verb != 'p' => {
            let inner: Vec<String> = items.iter().map(|i| format_value(i, spec)).collect();
            return format!("[{}]", inner.join(" "));
        }
        Value::Map(entries) if spec.verb != 'T' && spec.verb != 'p' => {
            let inner: Vec<String> = entries
                .entries()
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}:{}",
                        format_value(&Value::string(k.as_str()), spec),
                        format_value(v, spec)
                    )
                })
                .collect();
            return format!("map[{}]", inner.join(" "));
        }
        _ => {}
    }
    let body = match format_scalar(value, spec) {
        Some(text) => text,
        None => return bad_verb(value, spec.verb),
    };
    pad(
        body,
        spec,
        matches!(value, Value::Int(_) | Value::Int64(_) | Value::Float(_)),
    )
}

fn bad_verb(value: &Value, verb: char) -> String {
    match value {
        Value::NoValue | Value::Nil => format!("%!{verb}(<nil>)"),
        other => format!("%!{verb}({}={})", other.type_name(), display(other)),
    }
}

fn pad(body: String, spec: &Spec, numeric: bool) -> String {
    let Some(width) = spec.width else {
        return body;
    };
    let len = body.chars().count();
    if len >= width {
        return body;
    }
    let fill = width - len;
    if spec.minus {
        format!("{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        // Zeros go after the sign.
        let (sign, digits) = match body.strip_prefix(['-', '+']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

/// The text of a scalar under `spec`, or `None` when the verb does not fit it.
fn format_scalar(value: &Value, spec: &Spec) -> Option<String> {
    let verb = spec.verb;
    if verb == 'T' {
        return Some(value.type_name());
    }
    match value {
        Value::NoValue | Value::Nil => (verb == 'v' || verb == 's').then(|| {
            if verb == 'v' {
                "<nil>".to_owned()
            } else {
                "%!s(<nil>)".to_owned()
            }
        }),
        Value::Bool(b) => matches!(verb, 'v' | 't').then(|| b.to_string()),
        Value::Int(n) | Value::Int64(n) => format_int(*n, spec),
        Value::Float(f) => format_float(*f, spec),
        Value::String(s) => format_string(s, spec),
        Value::Object(o) => (verb == 'v' || verb == 's').then(|| o.display()),
        Value::List(_) | Value::Map(_) => None,
    }
}

fn signed(n: i64, digits: String, spec: &Spec) -> String {
    if n < 0 {
        format!("-{digits}")
    } else if spec.plus {
        format!("+{digits}")
    } else if spec.space {
        format!(" {digits}")
    } else {
        digits
    }
}

fn format_int(n: i64, spec: &Spec) -> Option<String> {
    let magnitude = n.unsigned_abs();
    let digits = match spec.verb {
        'v' | 'd' => magnitude.to_string(),
        'x' => format!("{}{magnitude:x}", if spec.sharp { "0x" } else { "" }),
        'X' => format!("{}{magnitude:X}", if spec.sharp { "0X" } else { "" }),
        'o' => format!("{}{magnitude:o}", if spec.sharp { "0" } else { "" }),
        'O' => format!("0o{magnitude:o}"),
        'b' => format!("{magnitude:b}"),
        'c' => return Some(char::from_u32(n as u32).unwrap_or('\u{FFFD}').to_string()),
        'q' => {
            let c = char::from_u32(n as u32).unwrap_or('\u{FFFD}');
            return Some(quote_char(c));
        }
        'U' => return Some(format!("U+{magnitude:04X}")),
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => return None,
        _ => return None,
    };
    let digits = match spec.precision {
        Some(p) if digits.len() < p => format!("{digits:0>p$}"),
        _ => digits,
    };
    Some(signed(n, digits, spec))
}

fn format_float(f: f64, spec: &Spec) -> Option<String> {
    let sign_of = |text: String| {
        if text.starts_with('-') {
            text
        } else if spec.plus {
            format!("+{text}")
        } else if spec.space {
            format!(" {text}")
        } else {
            text
        }
    };
    if let Some(special) = non_finite(f) {
        return Some(sign_of(special));
    }
    let text = match spec.verb {
        'v' | 'g' | 'G' => match spec.precision {
            None => format_float_shortest(f),
            Some(p) => format_g(f, p.max(1)),
        },
        'f' | 'F' => format!("{:.*}", spec.precision.unwrap_or(6), f),
        'e' | 'E' => {
            let p = spec.precision.unwrap_or(6);
            let text = format!("{:.*e}", p, f.abs());
            let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            let body = format!("{mantissa}e{sign}{:02}", exp.abs());
            if f.is_sign_negative() {
                format!("-{body}")
            } else {
                body
            }
        }
        _ => return None,
    };
    let text = if spec.verb == 'E' || spec.verb == 'G' {
        text.to_uppercase()
    } else {
        text
    };
    Some(sign_of(text))
}

/// `%.Pg`: P significant digits, exponent form when the exponent is below -4 or at
/// least P, trailing zeros removed.
fn format_g(f: f64, precision: usize) -> String {
    let text = format!("{:.*e}", precision - 1, f.abs());
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let body = if exp < -4 || exp >= precision as i32 {
        exponent_form(digits, exp, None)
    } else {
        positional_form(digits, exp)
    };
    if f.is_sign_negative() && f != 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

fn format_string(s: &str, spec: &Spec) -> Option<String> {
    let truncated: String = match spec.precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    };
    match spec.verb {
        'v' | 's' => Some(truncated),
        'q' => Some(if spec.sharp && !s.contains('`') {
            format!("`{s}`")
        } else {
            quote(&truncated)
        }),
        'x' | 'X' => {
            let sep = if spec.space { " " } else { "" };
            let hex: Vec<String> = truncated
                .bytes()
                .map(|b| {
                    if spec.verb == 'x' {
                        format!("{b:02x}")
                    } else {
                        format!("{b:02X}")
                    }
                })
                .collect();
            Some(hex.join(sep))
        }
        _ => None,
    }
}

/// Go's strconv.Quote.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            other => push_escaped(&mut out, other),
        }
    }
    out.push('"');
    out
}

fn quote_char(c: char) -> String {
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        '\\' => out.push_str("\\\\"),
        other => push_escaped(&mut out, other),
    }
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if c.is_control() => {
            if (c as u32) < 0x10000 {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32));
            }
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (f, text) in [
            (1_000_000.0, "1e+06"),
            (123_456.0, "123456"),
            (1_234_567.0, "1.234567e+06"),
            (3.0, "3"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
            (1e21, "1e+21"),
            (0.0, "0"),
        ] {
            assert_eq!(format_float_shortest(f), text, "{f}");
        }
    }

    #[test]
    fn printf_verbs_flags_and_misfits() {
        let s = |x: &str| Value::string(x);
        assert_eq!(
            sprintf(
                "%05.2f|%-4d|%4s|%q",
                &[Value::Float(2.55555), Value::Int(7), s("ab"), s("a\"b\n")]
            ),
            "02.56|7   |  ab|\"a\\\"b\\n\""
        );
        assert_eq!(
            sprintf("%d %s", &[s("x"), Value::Int(3)]),
            "%!d(string=x) %!s(int=3)"
        );
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), s("y")]),
            "1%!(EXTRA string=y)"
        );
        assert_eq!(
            sprintf(
                "%x %X %o %b %c",
                &[
                    Value::Int(255),
                    s("hi"),
                    Value::Int(8),
                    Value::Int(5),
                    Value::Int(65)
                ]
            ),
            "ff 6869 10 101 A"
        );
        assert_eq!(
            sprintf(
                "%v %T %T",
                &[Value::Nil, Value::Float(1.0), Value::list(vec![])]
            ),
            "<nil> float64 []interface {}"
        );
        assert_eq!(
            sprintf(
                "%.3g %e %g",
                &[
                    Value::Float(1234.5678),
                    Value::Float(1500.0),
                    Value::Float(1e-7)
                ]
            ),
            "1.23e+03 1.500000e+03 1e-07"
        );
        assert_eq!(sprintf("%d%%", &[Value::Int(50)]), "50%");
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        let s = |x: &str| Value::string(x);
        assert_eq!(
            sprint(&[
                Value::Int(1),
                Value::Int(2),
                s("a"),
                Value::Int(3),
                s("b"),
                s("c")
            ]),
            "1 2a3bc"
        );
        assert_eq!(sprintln(&[s("a"), Value::Int(1)]), "a 1\n");
        let list = Value::list(vec![Value::Int(1), s("a"), Value::Nil]);
        assert_eq!(display(&list), "[1 a <nil>]");
    }
}
