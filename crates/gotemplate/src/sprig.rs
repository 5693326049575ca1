//! The sprig v3 functions Helm gives templates (strings, defaults, lists, dicts,
//! math, conversions, encodings, regular expressions), with sprig's Go signatures:
//! the parameter types decide what a template may pass (`trunc .Values.n` with a
//! float64 fails as in Helm), and results keep sprig's Go types (`add` gives int64).

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::Digest as _;

use crate::gofmt;
use crate::value::{MapRef, Value};
use crate::{Func, Param, Templates};

/// sprig's `mustX` functions that behave as `X` here (both fail with sprig's message
/// where the one panics and the other returns an error).
const MUST_ALIASES: &[&str] = &[
    "append",
    "prepend",
    "first",
    "last",
    "rest",
    "initial",
    "reverse",
    "uniq",
    "without",
    "has",
    "compact",
    "slice",
    "merge",
    "mergeOverwrite",
    "deepCopy",
    "regexMatch",
    "regexFind",
    "regexFindAll",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "regexSplit",
    "toPrettyJson",
    "toRawJson",
    "chunk",
];

/// Adds sprig's functions to `templates`.
pub fn add_sprig(templates: &mut Templates) {
    add_sprig_functions(templates);
    for name in MUST_ALIASES {
        if let Some(func) = templates.func(name) {
            let must = format!("must{}{}", name[..1].to_uppercase(), &name[1..]);
            templates.add_func(&must, func);
        }
    }
    if let Some(func) = templates.func("append") {
        templates.add_func("push", func.clone());
        templates.add_func("mustPush", func);
    }
}

fn add_sprig_functions(templates: &mut Templates) {
    use Param::{Any, Int, Map, String as Str};
    let mut add = |name: &str,
                   params: Vec<Param>,
                   variadic: Option<Param>,
                   body: fn(Vec<Value>) -> Result<Value, String>| {
        templates.add_func(name, Func::new(params, variadic, move |_, args| body(args)));
    };
    // Strings.
    add("upper", vec![Str], None, |a| {
        Ok(s(text(&a[0]).to_uppercase()))
    });
    add("lower", vec![Str], None, |a| {
        Ok(s(text(&a[0]).to_lowercase()))
    });
    add("title", vec![Str], None, |a| Ok(s(title(text(&a[0])))));
    add("trim", vec![Str], None, |a| Ok(s(text(&a[0]).trim())));
    add("trimAll", vec![Str, Str], None, |a| {
        Ok(s(text(&a[1]).trim_matches(|c| text(&a[0]).contains(c))))
    });
    add("trimPrefix", vec![Str, Str], None, |a| {
        Ok(s(text(&a[1])
            .strip_prefix(text(&a[0]))
            .unwrap_or(text(&a[1]))))
    });
    add("trimSuffix", vec![Str, Str], None, |a| {
        Ok(s(text(&a[1])
            .strip_suffix(text(&a[0]))
            .unwrap_or(text(&a[1]))))
    });
    add("nospace", vec![Str], None, |a| {
        Ok(s(text(&a[0])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()))
    });
    add("trunc", vec![Int, Str], None, |a| {
        Ok(s(trunc(int(&a[0]), text(&a[1]))))
    });
    add("substr", vec![Int, Int, Str], None, |a| {
        Ok(s(substr(int(&a[0]), int(&a[1]), text(&a[2]))))
    });
    add("repeat", vec![Int, Str], None, |a| {
        Ok(s(text(&a[1]).repeat(int(&a[0]).max(0) as usize)))
    });
    add("contains", vec![Str, Str], None, |a| {
        Ok(Value::Bool(text(&a[1]).contains(text(&a[0]))))
    });
    add("hasPrefix", vec![Str, Str], None, |a| {
        Ok(Value::Bool(text(&a[1]).starts_with(text(&a[0]))))
    });
    add("hasSuffix", vec![Str, Str], None, |a| {
        Ok(Value::Bool(text(&a[1]).ends_with(text(&a[0]))))
    });
    add("quote", vec![], Some(Any), |a| {
        Ok(s(quote_all(&a, |v| gofmt::quote(&v))))
    });
    add("squote", vec![], Some(Any), |a| {
        Ok(s(quote_all(&a, |v| format!("'{v}'"))))
    });
    add("cat", vec![], Some(Any), |a| Ok(s(quote_all(&a, |v| v))));
    add("indent", vec![Int, Str], None, |a| {
        Ok(s(indent(int(&a[0]), text(&a[1]))))
    });
    add("nindent", vec![Int, Str], None, |a| {
        Ok(s(format!("\n{}", indent(int(&a[0]), text(&a[1])))))
    });
    add("replace", vec![Str, Str, Str], None, |a| {
        Ok(s(text(&a[2]).replace(text(&a[0]), text(&a[1]))))
    });
    add("plural", vec![Str, Str, Int], None, |a| {
        Ok(a[if int(&a[2]) == 1 { 0 } else { 1 }].clone())
    });
    add("toString", vec![Any], None, |a| Ok(s(strval(&a[0]))));
    add("toStrings", vec![Any], None, |a| {
        Ok(Value::list(strslice(&a[0]).into_iter().map(s).collect()))
    });
    add("split", vec![Str, Str], None, |a| {
        let parts: BTreeMap<String, Value> = text(&a[1])
            .split(text(&a[0]))
            .enumerate()
            .map(|(i, p)| (format!("_{i}"), s(p)))
            .collect();
        Ok(Value::map(parts))
    });
    add("splitList", vec![Str, Str], None, |a| {
        Ok(Value::list(
            go_split(text(&a[1]), text(&a[0]))
                .into_iter()
                .map(s)
                .collect(),
        ))
    });
    add("join", vec![Str, Any], None, |a| {
        Ok(s(strslice(&a[1]).join(text(&a[0]))))
    });
    add("sortAlpha", vec![Any], None, |a| {
        let mut items = strslice(&a[0]);
        items.sort();
        Ok(Value::list(items.into_iter().map(s).collect()))
    });
    add("b64enc", vec![Str], None, |a| {
        Ok(s(
            base64::engine::general_purpose::STANDARD.encode(text(&a[0]))
        ))
    });
    add("b64dec", vec![Str], None, |a| {
        Ok(s(
            match base64::engine::general_purpose::STANDARD.decode(text(&a[0])) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => e.to_string(),
            },
        ))
    });
    add("sha1sum", vec![Str], None, |a| {
        Ok(s(hex(&sha1::Sha1::digest(text(&a[0]).as_bytes()))))
    });
    add("sha256sum", vec![Str], None, |a| {
        Ok(s(hex(&sha2::Sha256::digest(text(&a[0]).as_bytes()))))
    });
    add("adler32sum", vec![Str], None, |a| {
        Ok(s(adler32(text(&a[0]).as_bytes()).to_string()))
    });
    // Regular expressions (Go's RE2 syntax is what the regex crate speaks).
    add("regexMatch", vec![Str, Str], None, |a| {
        Ok(Value::Bool(regex(&a[0])?.is_match(text(&a[1]))))
    });
    add("regexFind", vec![Str, Str], None, |a| {
        Ok(s(regex(&a[0])?
            .find(text(&a[1]))
            .map(|m| m.as_str())
            .unwrap_or("")))
    });
    add("regexFindAll", vec![Str, Str, Int], None, |a| {
        let re = regex(&a[0])?;
        let n = int(&a[2]);
        let found = re.find_iter(text(&a[1])).map(|m| s(m.as_str()));
        Ok(Value::list(if n < 0 {
            found.collect()
        } else {
            found.take(n as usize).collect()
        }))
    });
    add("regexReplaceAll", vec![Str, Str, Str], None, |a| {
        Ok(s(regex(&a[0])?
            .replace_all(text(&a[1]), text(&a[2]))
            .into_owned()))
    });
    add("regexReplaceAllLiteral", vec![Str, Str, Str], None, |a| {
        Ok(s(regex(&a[0])?
            .replace_all(text(&a[1]), regex::NoExpand(text(&a[2])))
            .into_owned()))
    });
    add("regexSplit", vec![Str, Str, Int], None, |a| {
        let re = regex(&a[0])?;
        let n = int(&a[2]);
        let parts: Vec<Value> = if n < 0 {
            re.split(text(&a[1])).map(s).collect()
        } else {
            re.splitn(text(&a[1]), n as usize).map(s).collect()
        };
        Ok(Value::list(parts))
    });
    add("regexQuoteMeta", vec![Str], None, |a| {
        Ok(s(regex::escape(text(&a[0]))))
    });
    // Defaults and flow.
    add("default", vec![Any], Some(Any), |a| {
        Ok(match a.get(1) {
            Some(given) if !is_empty(given) => given.clone(),
            _ => a[0].clone(),
        })
    });
    add("empty", vec![Any], None, |a| {
        Ok(Value::Bool(is_empty(&a[0])))
    });
    add("coalesce", vec![], Some(Any), |a| {
        Ok(a.iter()
            .find(|v| !is_empty(v))
            .cloned()
            .unwrap_or(Value::Nil))
    });
    add("all", vec![], Some(Any), |a| {
        Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
    });
    add("any", vec![], Some(Any), |a| {
        Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
    });
    add("ternary", vec![Any, Any, Param::Bool], None, |a| {
        Ok(if a[2].is_true() {
            a[0].clone()
        } else {
            a[1].clone()
        })
    });
    add("fail", vec![Str], None, |a| Err(text(&a[0]).to_owned()));
    // Types.
    add("typeOf", vec![Any], None, |a| Ok(s(a[0].type_name())));
    add("typeIs", vec![Str, Any], None, |a| {
        Ok(Value::Bool(text(&a[0]) == a[1].type_name()))
    });
    add("kindOf", vec![Any], None, |a| Ok(s(kind_of(&a[0]))));
    add("kindIs", vec![Str, Any], None, |a| {
        Ok(Value::Bool(text(&a[0]) == kind_of(&a[1])))
    });
    add("int", vec![Any], None, |a| Ok(Value::Int(to_int64(&a[0]))));
    add("int64", vec![Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0])))
    });
    add("float64", vec![Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0])))
    });
    add("atoi", vec![Str], None, |a| {
        Ok(Value::Int(text(&a[0]).parse().unwrap_or(0)))
    });
    // Math (integers as int64).
    add("add", vec![], Some(Any), |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(0i64, i64::wrapping_add),
        ))
    });
    add("add1", vec![Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_add(1)))
    });
    add("sub", vec![Any, Any], None, |a| {
        Ok(Value::Int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))))
    });
    add("mul", vec![Any], Some(Any), |a| {
        Ok(Value::Int64(
            a.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
        ))
    });
    add("div", vec![Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".to_owned());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_div(d)))
    });
    add("mod", vec![Any, Any], None, |a| {
        let d = to_int64(&a[1]);
        if d == 0 {
            return Err("runtime error: integer divide by zero".to_owned());
        }
        Ok(Value::Int64(to_int64(&a[0]).wrapping_rem(d)))
    });
    add("max", vec![Any], Some(Any), |a| {
        Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    add("min", vec![Any], Some(Any), |a| {
        Ok(Value::Int64(a.iter().map(to_int64).min().unwrap_or(0)))
    });
    // Decimal floats (sprig computes them exactly in decimal, then rounds once).
    add("addf", vec![], Some(Any), |a| {
        Ok(Value::Float(decimal_fold(&a, 0.0, Decimal::add)))
    });
    add("add1f", vec![Any], None, |a| {
        Ok(Value::Float(decimal_fold(
            &[a[0].clone(), Value::Float(1.0)],
            0.0,
            Decimal::add,
        )))
    });
    add("subf", vec![Any], Some(Any), |a| {
        Ok(Value::Float(decimal_chain(&a, Decimal::sub)))
    });
    add("mulf", vec![Any], Some(Any), |a| {
        Ok(Value::Float(decimal_chain(&a, Decimal::mul)))
    });
    add("divf", vec![Any], Some(Any), |a| {
        Ok(Value::Float(
            a[1..]
                .iter()
                .fold(to_float64(&a[0]), |acc, v| acc / to_float64(v)),
        ))
    });
    add("maxf", vec![Any], Some(Any), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::NEG_INFINITY, f64::max),
        ))
    });
    add("minf", vec![Any], Some(Any), |a| {
        Ok(Value::Float(
            a.iter().map(to_float64).fold(f64::INFINITY, f64::min),
        ))
    });
    add("floor", vec![Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).floor()))
    });
    add("ceil", vec![Any], None, |a| {
        Ok(Value::Float(to_float64(&a[0]).ceil()))
    });
    add("until", vec![Int], None, |a| {
        Ok(Value::list(until(0, int(&a[0]), 1)))
    });
    add("untilStep", vec![Int, Int, Int], None, |a| {
        Ok(Value::list(until(int(&a[0]), int(&a[1]), int(&a[2]))))
    });
    // Lists.
    add("list", vec![], Some(Any), |a| Ok(Value::list(a)));
    add("append", vec![Any, Any], None, |a| {
        let mut items = list_items(&a[0], "push on")?;
        items.push(a[1].clone());
        Ok(Value::list(items))
    });
    add("prepend", vec![Any, Any], None, |a| {
        let mut items = list_items(&a[0], "prepend on")?;
        items.insert(0, a[1].clone());
        Ok(Value::list(items))
    });
    add("first", vec![Any], None, |a| {
        Ok(list_items(&a[0], "find first on")?
            .first()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    add("last", vec![Any], None, |a| {
        Ok(list_items(&a[0], "find last on")?
            .last()
            .cloned()
            .unwrap_or(Value::Nil))
    });
    add("rest", vec![Any], None, |a| {
        Ok(Value::list(
            list_items(&a[0], "find rest on")?
                .into_iter()
                .skip(1)
                .collect(),
        ))
    });
    add("initial", vec![Any], None, |a| {
        let mut items = list_items(&a[0], "find initial on")?;
        items.pop();
        Ok(Value::list(items))
    });
    add("reverse", vec![Any], None, |a| {
        let mut items = list_items(&a[0], "find reverse on")?;
        items.reverse();
        Ok(Value::list(items))
    });
    add("uniq", vec![Any], None, |a| {
        let mut out: Vec<Value> = Vec::new();
        for item in list_items(&a[0], "find uniq on")? {
            if !out.iter().any(|o| deep_equal(o, &item)) {
                out.push(item);
            }
        }
        Ok(Value::list(out))
    });
    add("without", vec![Any], Some(Any), |a| {
        let items = list_items(&a[0], "find without on")?;
        Ok(Value::list(
            items
                .into_iter()
                .filter(|i| !a[1..].iter().any(|o| deep_equal(o, i)))
                .collect(),
        ))
    });
    add("has", vec![Any, Any], None, |a| {
        Ok(Value::Bool(match &a[1] {
            Value::Nil | Value::NoValue => false,
            haystack => list_items(haystack, "find has on")?
                .iter()
                .any(|i| deep_equal(i, &a[0])),
        }))
    });
    add("compact", vec![Any], None, |a| {
        Ok(Value::list(
            list_items(&a[0], "compact on")?
                .into_iter()
                .filter(|v| !is_empty(v))
                .collect(),
        ))
    });
    add("concat", vec![], Some(Any), |a| {
        let mut out = Vec::new();
        for list in &a {
            out.extend(list_items(list, "concat")?);
        }
        Ok(Value::list(out))
    });
    // Dicts.
    add("dict", vec![], Some(Any), |a| {
        let mut map = BTreeMap::new();
        for pair in a.chunks(2) {
            let value = pair.get(1).cloned().unwrap_or_else(|| s(""));
            map.insert(strval(&pair[0]), value);
        }
        Ok(Value::map(map))
    });
    add("get", vec![Map, Str], None, |a| {
        Ok(map_of(&a[0])
            .and_then(|m| m.get(text(&a[1])))
            .unwrap_or_else(|| s("")))
    });
    add("set", vec![Map, Str, Any], None, |a| {
        if let Some(map) = map_of(&a[0]) {
            map.insert(text(&a[1]), a[2].clone());
        }
        Ok(a[0].clone())
    });
    add("unset", vec![Map, Str], None, |a| {
        if let Some(map) = map_of(&a[0]) {
            map.remove(text(&a[1]));
        }
        Ok(a[0].clone())
    });
    add("hasKey", vec![Map, Str], None, |a| {
        Ok(Value::Bool(
            map_of(&a[0]).is_some_and(|m| m.contains_key(text(&a[1]))),
        ))
    });
    add("keys", vec![], Some(Map), |a| {
        let mut keys: Vec<Value> = Vec::new();
        for map in a.iter().filter_map(map_of) {
            keys.extend(map.keys().into_iter().map(s));
        }
        Ok(Value::list(keys))
    });
    add("values", vec![Map], None, |a| {
        Ok(Value::list(
            map_of(&a[0])
                .map(|m| m.entries().into_iter().map(|(_, v)| v).collect())
                .unwrap_or_default(),
        ))
    });
    add("pick", vec![Map], Some(Str), |a| {
        let source = map_of(&a[0]).map(|m| m.snapshot()).unwrap_or_default();
        let keys: Vec<&str> = a[1..].iter().map(text).collect();
        Ok(Value::map(
            source
                .into_iter()
                .filter(|(k, _)| keys.contains(&k.as_str()))
                .collect(),
        ))
    });
    add("omit", vec![Map], Some(Str), |a| {
        let source = map_of(&a[0]).map(|m| m.snapshot()).unwrap_or_default();
        let keys: Vec<&str> = a[1..].iter().map(text).collect();
        Ok(Value::map(
            source
                .into_iter()
                .filter(|(k, _)| !keys.contains(&k.as_str()))
                .collect(),
        ))
    });
    add("pluck", vec![Str], Some(Map), |a| {
        Ok(Value::list(
            a[1..]
                .iter()
                .filter_map(map_of)
                .filter_map(|m| m.get(text(&a[0])))
                .collect(),
        ))
    });
    add("merge", vec![Map], Some(Map), |a| merge(&a, false));
    add("mergeOverwrite", vec![Map], Some(Map), |a| merge(&a, true));
    add("deepCopy", vec![Any], None, |a| Ok(deep_copy(&a[0])));
    add("dig", vec![Any], Some(Any), |a| dig(&a));
    // Random text (from the operating system's generator: charts make passwords so).
    add("randAlphaNum", vec![Int], None, |a| {
        Ok(s(random_text(int(&a[0]), ALPHANUMERIC)))
    });
    add("randAlpha", vec![Int], None, |a| {
        Ok(s(random_text(int(&a[0]), ALPHA)))
    });
    add("randNumeric", vec![Int], None, |a| {
        Ok(s(random_text(int(&a[0]), NUMERIC)))
    });
    add("randAscii", vec![Int], None, |a| {
        Ok(s(random_text(int(&a[0]), ASCII)))
    });
    add("shuffle", vec![Str], None, |a| {
        use rand::seq::SliceRandom as _;
        let mut chars: Vec<char> = text(&a[0]).chars().collect();
        chars.shuffle(&mut rand::rng());
        Ok(s(chars.into_iter().collect::<String>()))
    });
    add("uuidv4", vec![], None, |_| Ok(s(uuid_v4())));
    add("genPrivateKey", vec![Str], None, |a| {
        Ok(s(crate::crypto::gen_private_key(text(&a[0]))))
    });
    add("genCA", vec![Str, Int], None, |a| {
        crate::crypto::gen_ca(text(&a[0]), int(&a[1]))
    });
    add(
        "genSelfSignedCert",
        vec![Str, Param::List, Param::List, Int],
        None,
        |a| crate::crypto::gen_self_signed(text(&a[0]), &a[1], &a[2], int(&a[3])),
    );
    add(
        "genSignedCert",
        vec![Str, Param::List, Param::List, Int, Any],
        None,
        |a| crate::crypto::gen_signed(text(&a[0]), &a[1], &a[2], int(&a[3]), &a[4]),
    );
    add("htpasswd", vec![Str, Str], None, |a| {
        let user = text(&a[0]);
        if user.contains(':') {
            return Ok(s(format!("invalid username: {user}")));
        }
        // sprig hashes with bcrypt at Go's default cost, in the $2a$ form.
        let hash = bcrypt::hash_with_result(text(&a[1]), bcrypt::DEFAULT_COST)
            .map(|h| h.format_for_version(bcrypt::Version::TwoA))
            .map_err(|e| e.to_string())?;
        Ok(s(format!("{user}:{hash}")))
    });
    add("randInt", vec![Int, Int], None, |a| {
        use rand::Rng as _;
        let (min, max) = (int(&a[0]), int(&a[1]));
        if max <= min {
            return Err("invalid argument to Intn".to_owned());
        }
        Ok(Value::Int(rand::rng().random_range(min..max)))
    });
    // Word shapes.
    add("camelcase", vec![Str], None, |a| {
        Ok(s(camel_case(text(&a[0]))))
    });
    add("snakecase", vec![Str], None, |a| {
        Ok(s(delimited_case(text(&a[0]), '_')))
    });
    add("kebabcase", vec![Str], None, |a| {
        Ok(s(delimited_case(text(&a[0]), '-')))
    });
    add("swapcase", vec![Str], None, |a| {
        Ok(s(text(&a[0])
            .chars()
            .map(|c| {
                if c.is_uppercase() {
                    c.to_lowercase().collect::<String>()
                } else {
                    c.to_uppercase().collect()
                }
            })
            .collect::<String>()))
    });
    add("untitle", vec![Str], None, |a| Ok(s(untitle(text(&a[0])))));
    add("initials", vec![Str], None, |a| {
        Ok(s(text(&a[0])
            .split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect::<String>()))
    });
    add("abbrev", vec![Int, Str], None, |a| {
        Ok(s(abbrev(int(&a[0]), text(&a[1]))))
    });
    add("wrap", vec![Int, Str], None, |a| {
        Ok(s(wrap(int(&a[0]), "\n", text(&a[1]))))
    });
    add("wrapWith", vec![Int, Str, Str], None, |a| {
        Ok(s(wrap(int(&a[0]), text(&a[1]), text(&a[2]))))
    });
    add("splitn", vec![Str, Int, Str], None, |a| {
        let n = int(&a[1]);
        let parts: Vec<&str> = if n < 0 {
            text(&a[2]).split(text(&a[0])).collect()
        } else if n == 0 {
            Vec::new()
        } else {
            text(&a[2]).splitn(n as usize, text(&a[0])).collect()
        };
        Ok(Value::map(
            parts
                .into_iter()
                .enumerate()
                .map(|(i, p)| (format!("_{i}"), s(p)))
                .collect(),
        ))
    });
    add("seq", vec![], Some(Int), |a| {
        Ok(s(seq(&a.iter().map(int).collect::<Vec<_>>())))
    });
    add("tuple", vec![], Some(Any), |a| Ok(Value::list(a)));
    add("chunk", vec![Int, Any], None, |a| {
        let size = int(&a[0]).max(1) as usize;
        let items = list_items(&a[1], "chunk")?;
        Ok(Value::list(
            items
                .chunks(size)
                .map(|c| Value::list(c.to_vec()))
                .collect(),
        ))
    });
    add("slice", vec![Any], Some(Any), |a| {
        let items = match &a[0] {
            Value::List(items) => items.to_vec(),
            other => {
                return Err(format!(
                    "list should be type of slice or array but {}",
                    kind_of(other)
                ))
            }
        };
        let bound = |i: usize, default: usize| {
            a.get(i)
                .map(|v| to_int64(v).max(0) as usize)
                .unwrap_or(default)
        };
        let (start, end) = (bound(1, 0), bound(2, items.len()));
        if start > end || end > items.len() {
            return Err(format!("slice bounds out of range [{start}:{end}]"));
        }
        Ok(Value::list(items[start..end].to_vec()))
    });
    add("deepEqual", vec![Any, Any], None, |a| {
        Ok(Value::Bool(deep_equal(&a[0], &a[1])))
    });
    add("typeIsLike", vec![Str, Any], None, |a| {
        let t = a[1].type_name();
        Ok(Value::Bool(
            text(&a[0]) == t || text(&a[0]) == format!("*{t}"),
        ))
    });
    add("biggest", vec![Any], Some(Any), |a| {
        Ok(Value::Int64(a.iter().map(to_int64).max().unwrap_or(0)))
    });
    add("round", vec![Any, Int], Some(Param::Float), |a| {
        let round_on = a.get(2).map(to_float64).unwrap_or(0.5);
        let pow = 10f64.powi(int(&a[1]) as i32);
        let digit = pow * to_float64(&a[0]);
        let rounded = if digit.fract() >= round_on {
            digit.ceil()
        } else {
            digit.floor()
        };
        Ok(Value::Float(rounded / pow))
    });
    add("sha512sum", vec![Str], None, |a| {
        Ok(s(hex(&sha2::Sha512::digest(text(&a[0]).as_bytes()))))
    });
    add("b32enc", vec![Str], None, |a| {
        Ok(s(base32_encode(text(&a[0]).as_bytes())))
    });
    // Paths (Go's path package: forward slashes).
    add("base", vec![Str], None, |a| Ok(s(path_base(text(&a[0])))));
    add("dir", vec![Str], None, |a| Ok(s(path_dir(text(&a[0])))));
    add("ext", vec![Str], None, |a| {
        let base = path_base(text(&a[0]));
        Ok(s(base
            .rfind('.')
            .map(|i| base[i..].to_owned())
            .unwrap_or_default()))
    });
    add("clean", vec![Str], None, |a| Ok(s(path_clean(text(&a[0])))));
    add("isAbs", vec![Str], None, |a| {
        Ok(Value::Bool(text(&a[0]).starts_with('/')))
    });
    // Semantic versions.
    add("semverCompare", vec![Str, Str], None, |a| {
        crate::semver::semver_compare(text(&a[0]), text(&a[1])).map(Value::Bool)
    });
    add("semver", vec![Str], None, |a| {
        crate::semver::Version::parse(text(&a[0]))
            .map(|v| Value::Object(std::sync::Arc::new(crate::semver::VersionObject(v))))
    });
    // JSON (Helm replaces toJson with its own, which prints the same).
    add("toJson", vec![Any], None, |a| {
        Ok(s(crate::gojson::marshal(&a[0], true).unwrap_or_default()))
    });
    add("toPrettyJson", vec![Any], None, |a| {
        Ok(s(
            crate::gojson::marshal_indent(&a[0], "  ", true).unwrap_or_default()
        ))
    });
    add("toRawJson", vec![Any], None, |a| {
        Ok(s(crate::gojson::marshal(&a[0], false).unwrap_or_default()))
    });
}

const ALPHA: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC: &str = "0123456789";
const ALPHANUMERIC: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ASCII: &str = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// `count` characters drawn from `alphabet` by a cryptographically secure generator.
fn random_text(count: i64, alphabet: &str) -> String {
    use rand::Rng as _;
    let chars: Vec<char> = alphabet.chars().collect();
    let mut rng = rand::rng();
    (0..count.max(0))
        .map(|_| chars[rng.random_range(0..chars.len())])
        .collect()
}

fn s(text: impl Into<String>) -> Value {
    Value::from(text.into())
}

/// A string argument (the signature guarantees the type).
fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn int(value: &Value) -> i64 {
    value.as_int().unwrap_or(0)
}

fn map_of(value: &Value) -> Option<&MapRef> {
    match value {
        Value::Map(map) => Some(map),
        _ => None,
    }
}

fn uuid_v4() -> String {
    use rand::Rng as _;
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Words for the case functions: split at separators and before an upper-case letter
/// that follows a lower-case one.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c == '_' || c == '-' || c == ' ' || c == '.' {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_uppercase() && previous_lower && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_lowercase() || c.is_ascii_digit();
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn camel_case(text: &str) -> String {
    words(text)
        .iter()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().collect::<String>() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn delimited_case(text: &str, sep: char) -> String {
    words(text)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(&sep.to_string())
}

fn untitle(text: &str) -> String {
    let mut out = String::new();
    let mut at_start = true;
    for c in text.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        at_start = c.is_whitespace();
    }
    out
}

fn abbrev(width: i64, text: &str) -> String {
    let len = text.chars().count() as i64;
    if width < 4 || len <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take((width - 3) as usize).collect();
    format!("{kept}...")
}

/// goutils.WrapCustom: words joined into lines of at most `width`, long words kept.
fn wrap(width: i64, newline: &str, text: &str) -> String {
    let width = width.max(1) as usize;
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ').filter(|w| !w.is_empty()) {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    lines.join(newline)
}

/// sprig's seq: like the shell's (`seq 3`, `seq 2 5`, `seq 1 2 9`).
fn seq(args: &[i64]) -> String {
    let (start, step, end) = match args {
        [end] => (1, if *end >= 1 { 1 } else { -1 }, *end),
        [start, end] => (*start, if end >= start { 1 } else { -1 }, *end),
        [start, step, end] => (*start, *step, *end),
        _ => return String::new(),
    };
    if step == 0 || (step > 0 && start > end) || (step < 0 && start < end) {
        return String::new();
    }
    let mut out = Vec::new();
    let mut i = start;
    while (step > 0 && i <= end) || (step < 0 && i >= end) {
        out.push(i.to_string());
        i += step;
    }
    out.join(" ")
}

fn base32_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(ALPHABET[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's path.Clean.
fn path_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's path.Base.
fn path_base(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Go's path.Dir.
fn path_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => path_clean(&path[..i + 1]),
        None => ".".to_owned(),
    }
}

/// sprig's strval: strings as they are, anything else as `%v`.
pub fn strval(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        other => gofmt::display(other),
    }
}

/// sprig's strslice: a list's non-nil elements as strings, a single value as one.
fn strslice(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items
            .iter()
            .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
            .map(strval)
            .collect(),
        Value::Nil | Value::NoValue => Vec::new(),
        other => vec![strval(other)],
    }
}

/// quote/squote/cat: each non-nil operand as text, joined by spaces.
fn quote_all(args: &[Value], each: impl Fn(String) -> String) -> String {
    args.iter()
        .filter(|v| !matches!(v, Value::Nil | Value::NoValue))
        .map(|v| each(strval(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn title(text: &str) -> String {
    // Go's strings.Title: the first letter of each word, words split at non-letters.
    let mut out = String::new();
    let mut at_start = true;
    for c in text.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

fn trunc(c: i64, text: &str) -> String {
    let len = text.len() as i64;
    if c < 0 && len + c > 0 {
        return text.get((len + c) as usize..).unwrap_or(text).to_owned();
    }
    if c >= 0 && len > c {
        return text.get(..c as usize).unwrap_or(text).to_owned();
    }
    text.to_owned()
}

fn substr(start: i64, end: i64, text: &str) -> String {
    let len = text.len() as i64;
    if start < 0 {
        return text
            .get(..end.clamp(0, len) as usize)
            .unwrap_or("")
            .to_owned();
    }
    if end < 0 || end > len {
        return text.get(start.min(len) as usize..).unwrap_or("").to_owned();
    }
    text.get(start as usize..end as usize)
        .unwrap_or("")
        .to_owned()
}

fn indent(spaces: i64, text: &str) -> String {
    let pad = " ".repeat(spaces.max(0) as usize);
    format!("{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

/// Go's strings.Split: an empty separator splits into characters.
fn go_split<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return text
            .char_indices()
            .map(|(i, c)| &text[i..i + c.len_utf8()])
            .collect();
    }
    text.split(sep).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for byte in bytes {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

fn regex(pattern: &Value) -> Result<regex::Regex, String> {
    regex::Regex::new(text(pattern))
        .map_err(|e| format!("regexp: Compile({}): {e}", gofmt::quote(text(pattern))))
}

/// sprig's empty: nil, zero, false, and empty strings, lists and maps.
pub fn is_empty(value: &Value) -> bool {
    !value.is_true()
}

/// reflect.Kind's name.
fn kind_of(value: &Value) -> String {
    match value {
        Value::NoValue | Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(_) => "ptr",
    }
    .to_owned()
}

/// spf13/cast's ToInt64 as sprig uses it (failures are 0).
pub fn to_int64(value: &Value) -> i64 {
    match value {
        Value::Int(n) | Value::Int64(n) => *n,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(text) => {
            let trimmed = trim_zero_decimal(text);
            parse_go_int(trimmed).unwrap_or(0)
        }
        _ => 0,
    }
}

/// cast's trimZeroDecimal: `1.000` is `1`.
fn trim_zero_decimal(text: &str) -> &str {
    match text.split_once('.') {
        Some((int, frac))
            if !int.is_empty() && !frac.is_empty() && frac.chars().all(|c| c == '0') =>
        {
            int
        }
        _ => text,
    }
}

/// strconv.ParseInt(text, 0, 64): a sign, then a 0x/0o/0b/0 prefix picks the base.
fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(b) = lower.strip_prefix("0x") {
        (16, b.to_owned())
    } else if let Some(b) = lower.strip_prefix("0o") {
        (8, b.to_owned())
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b.to_owned())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_owned())
    } else {
        (10, lower)
    };
    let body = body.replace('_', "");
    let magnitude = i64::from_str_radix(&body, radix).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// spf13/cast's ToFloat64 (failures are 0).
pub fn to_float64(value: &Value) -> f64 {
    match value {
        Value::Int(n) | Value::Int64(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(text) => text.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// A decimal number as shopspring/decimal holds one made from a float64: the float's
/// shortest digits, exactly.
#[derive(Clone, Copy)]
struct Decimal {
    mantissa: i128,
    exponent: i32,
}

impl Decimal {
    fn of(f: f64) -> Option<Decimal> {
        if !f.is_finite() {
            return None;
        }
        let text = format!("{:e}", f);
        let (mantissa, exp) = text.split_once('e')?;
        let negative = mantissa.starts_with('-');
        let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
        let fraction_digits = mantissa.split_once('.').map(|(_, f)| f.len()).unwrap_or(0) as i32;
        let value: i128 = digits.parse().ok()?;
        Some(Decimal {
            mantissa: if negative { -value } else { value },
            exponent: exp.parse::<i32>().ok()? - fraction_digits,
        })
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mantissa, self.exponent)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn aligned(a: Decimal, b: Decimal) -> Option<(i128, i128, i32)> {
        let exponent = a.exponent.min(b.exponent);
        let scale = |d: Decimal| {
            10i128
                .checked_pow((d.exponent - exponent) as u32)
                .and_then(|p| d.mantissa.checked_mul(p))
        };
        Some((scale(a)?, scale(b)?, exponent))
    }

    fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
        let (x, y, exponent) = Decimal::aligned(a, b)?;
        Some(Decimal {
            mantissa: x.checked_add(y)?,
            exponent,
        })
    }

    fn sub(a: Decimal, b: Decimal) -> Option<Decimal> {
        let (x, y, exponent) = Decimal::aligned(a, b)?;
        Some(Decimal {
            mantissa: x.checked_sub(y)?,
            exponent,
        })
    }

    fn mul(a: Decimal, b: Decimal) -> Option<Decimal> {
        Some(Decimal {
            mantissa: a.mantissa.checked_mul(b.mantissa)?,
            exponent: a.exponent + b.exponent,
        })
    }
}

/// `op` over every argument from `start`, in decimal (in floats where a number is too
/// wide for that).
fn decimal_fold(args: &[Value], start: f64, op: fn(Decimal, Decimal) -> Option<Decimal>) -> f64 {
    let mut acc = Decimal::of(start);
    for arg in args {
        acc = match (acc, Decimal::of(to_float64(arg))) {
            (Some(a), Some(b)) => op(a, b),
            _ => None,
        };
    }
    acc.map(Decimal::to_f64)
        .unwrap_or_else(|| args.iter().map(to_float64).sum())
}

/// `op` from the first argument through the rest, in decimal.
fn decimal_chain(args: &[Value], op: fn(Decimal, Decimal) -> Option<Decimal>) -> f64 {
    let first = to_float64(&args[0]);
    let mut acc = Decimal::of(first);
    for arg in &args[1..] {
        acc = match (acc, Decimal::of(to_float64(arg))) {
            (Some(a), Some(b)) => op(a, b),
            _ => None,
        };
    }
    acc.map(Decimal::to_f64).unwrap_or(f64::NAN)
}

fn until(start: i64, stop: i64, step: i64) -> Vec<Value> {
    let mut out = Vec::new();
    if step == 0 || (step > 0 && start >= stop) || (step < 0 && start <= stop) {
        return out;
    }
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        out.push(Value::Int(i));
        i += step;
    }
    out
}

/// The elements of a list argument; sprig panics on anything else.
fn list_items(value: &Value, what: &str) -> Result<Vec<Value>, String> {
    match value {
        Value::List(items) => Ok(items.to_vec()),
        other => Err(format!("Cannot {what} type {}", other.type_name())),
    }
}

/// reflect.DeepEqual over values.
pub fn deep_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::NoValue | Value::Nil, Value::NoValue | Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            let (x, y) = (x.entries(), y.entries());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        _ => false,
    }
}

/// A copy that shares nothing with the original (sprig's deepCopy).
pub fn deep_copy(value: &Value) -> Value {
    match value {
        Value::List(items) => Value::list(items.iter().map(deep_copy).collect()),
        Value::Map(map) => {
            let entries = map
                .entries()
                .into_iter()
                .map(|(k, v)| (k, deep_copy(&v)))
                .collect();
            // The copy keeps a named map type (copystructure copies the type too).
            if map.is_plain() {
                Value::map(entries)
            } else {
                Value::Map(MapRef::named(map.type_name(), entries))
            }
        }
        other => other.clone(),
    }
}

/// mergo.Merge of each source into the first map, in place: missing keys are filled
/// (every key, with `overwrite`), nested maps merged.
fn merge(args: &[Value], overwrite: bool) -> Result<Value, String> {
    let Some(dst) = map_of(&args[0]) else {
        return Ok(args[0].clone());
    };
    for src in args[1..].iter().filter_map(map_of) {
        merge_into(dst, src, overwrite);
    }
    Ok(args[0].clone())
}

fn merge_into(dst: &MapRef, src: &MapRef, overwrite: bool) {
    for (key, value) in src.entries() {
        match (dst.get(&key), &value) {
            (Some(Value::Map(d)), Value::Map(s)) => {
                if !d.same(s) {
                    merge_into(&d, s, overwrite);
                }
            }
            (Some(existing), _) if !overwrite && !is_empty(&existing) => {}
            (Some(_), _) if !overwrite => dst.insert(key, value),
            (Some(_), _) => {
                if !is_empty(&value) {
                    dst.insert(key, value);
                }
            }
            (None, _) => dst.insert(key, value),
        }
    }
}

/// `dig "a" "b" DEFAULT DICT`: the value at the key path, or the default.
fn dig(args: &[Value]) -> Result<Value, String> {
    if args.len() < 3 {
        return Err("dig needs at least three arguments".to_owned());
    }
    let dict = &args[args.len() - 1];
    if let Value::Map(map) = dict {
        if !map.is_plain() {
            // sprig asserts the type: a named map type is not map[string]interface {}.
            return Err(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                map.type_name()
            ));
        }
    }
    let default = &args[args.len() - 2];
    let mut current = dict.clone();
    for key in &args[..args.len() - 2] {
        let Value::Map(map) = &current else {
            return Ok(default.clone());
        };
        match map.get(text(key)) {
            Some(next) => current = next,
            None => return Ok(default.clone()),
        }
    }
    Ok(current)
}
