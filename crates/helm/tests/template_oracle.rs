//! The template engine against the real thing: every case is rendered by the Helm SDK
//! (Helm 4, Go's text/template and sprig inside) as a chart template, and by
//! ferroflux-gotemplate with Helm's functions and options (missing keys read as nil,
//! `<no value>` printed as nothing). Outputs must be identical, and where Helm fails
//! our error, in Helm's words, must be Helm's text exactly. The SDK lives in the
//! workspace's .venv (the test command installs it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use ferroflux_gotemplate::{MapRef, Value};

const NAME: &str = "c/templates/t.txt";

/// (template, values as JSON).
const CASES: &[(&str, &str)] = &[
    // Text, trimming, comments.
    ("plain text\n", "{}"),
    ("a  {{- 1 -}}  b", "{}"),
    ("a\n\n{{- \"x\" }}\n\n{{- /* gone */ -}}\n  b", "{}"),
    ("{{/* a\nmultiline comment */}}x", "{}"),
    ("{{ `raw\\n string` }} {{ \"esc\\t\\\"q\\\"\\u00e9\" }}", "{}"),
    // Literals.
    ("{{ 42 }} {{ -7 }} {{ 0x1F }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 017 }}", "{}"),
    ("{{ 1.5 }} {{ 1e3 }} {{ 0x1p20 }} {{ 1e6 }} {{ 123456.0 }} {{ 1234567.0 }} {{ 0.00001 }} {{ .5 }}", "{}"),
    ("{{ 'a' }} {{ '\\n' }} {{ printf \"%c\" 'é' }} {{ true }} {{ false }}", "{}"),
    ("{{ printf \"%T %T %T %T %T\" 1 1.0 'a' \"s\" true }}", "{}"),
    // Values as Helm hands them over (numbers are float64).
    ("{{ .Values.i }} {{ .Values.f }} {{ .Values.big }} {{ .Values.neg }} {{ .Values.s }} {{ .Values.b }}", r#"{"i": 3, "f": 2.5, "big": 12345678, "neg": -0.25, "s": "str", "b": true}"#),
    ("{{ .Values.l }} {{ .Values.m }} {{ .Values.nested }} {{ .Values.empty }} {{ .Values.e2 }}", r#"{"l": [1, "two", null, [3]], "m": {"b": 1, "a": "x"}, "nested": {"k": {"j": [true]}}, "empty": [], "e2": {}}"#),
    ("[{{ .Values.missing }}][{{ .Values.null }}][{{ $.Values.missing }}]", r#"{"null": null}"#),
    ("{{ printf \"%v|%s|%d|%q\" .Values.missing .Values.missing .Values.missing .Values.s }}", r#"{"s": "x"}"#),
    // Variables.
    ("{{ $x := 1 }}{{ $x }}{{ $x = \"two\" }}{{ $x }}{{ $ := 5 }}", "{}"),
    ("{{ $a := .Values.a }}{{ if $a }}{{ $b := 2 }}{{ $a }}{{ $b }}{{ end }}{{ $a }}", r#"{"a": "A"}"#),
    ("{{ with $x := .Values.m }}{{ $x.k }}{{ end }}", r#"{"m": {"k": "v"}}"#),
    // Control structures.
    ("{{ if .Values.a }}yes{{ else }}no{{ end }} {{ if .Values.zero }}yes{{ else }}no{{ end }} {{ if .Values.es }}y{{ else }}n{{ end }}", r#"{"a": 1, "zero": 0, "es": ""}"#),
    ("{{ if eq .Values.n 1.0 }}one{{ else if eq .Values.n 2.0 }}two{{ else if gt .Values.n 5.0 }}big{{ else }}other{{ end }}", r#"{"n": 9}"#),
    ("{{ with .Values.m }}{{ .a }}{{ else }}none{{ end }} {{ with .Values.x }}{{ . }}{{ else with .Values.y }}y={{ . }}{{ else }}neither{{ end }}", r#"{"m": {"a": "A"}, "y": 2}"#),
    ("{{ range .Values.l }}<{{ . }}>{{ end }} {{ range $i, $e := .Values.l }}{{ $i }}:{{ $e }} {{ end }}", r#"{"l": ["a", "b", "c"]}"#),
    ("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }} {{ range .Values.m }}{{ . }}{{ end }}", r#"{"m": {"zeta": 1, "alpha": 2, "Mid": 3}}"#),
    ("{{ range .Values.none }}x{{ else }}empty{{ end }} {{ range .Values.e }}x{{ else }}also empty{{ end }}", r#"{"e": []}"#),
    ("{{ range 4 }}{{ . }}{{ end }} {{ range $i := 3 }}[{{ $i }}]{{ end }}", "{}"),
    ("{{ range .Values.l }}{{ if eq . 3.0 }}{{ continue }}{{ end }}{{ if eq . 5.0 }}{{ break }}{{ end }}{{ . }},{{ end }}", r#"{"l": [1, 2, 3, 4, 5, 6]}"#),
    ("{{ range $i, $v := .Values.l }}{{ range $v }}{{ $i }}{{ . }} {{ end }}{{ end }}", r#"{"l": [["a", "b"], ["c"]]}"#),
    // define / template / block.
    ("{{ define \"greet\" }}hello {{ . }}{{ end }}{{ template \"greet\" \"world\" }} {{ template \"greet\" .Values.who }}", r#"{"who": "you"}"#),
    ("{{ block \"b\" .Values }}default {{ .x }}{{ end }}|{{ template \"b\" .Values }}", r#"{"x": 1}"#),
    ("{{ define \"v\" }}[{{ .missing }}]{{ end }}{{ template \"v\" }}{{ template \"v\" .Values.nothing }}", "{}"),
    ("{{- define \"list\" -}}\n{{- range . }}\n- {{ . }}\n{{- end }}\n{{- end -}}\nitems:{{ template \"list\" .Values.l }}", r#"{"l": ["a", "b"]}"#),
    // Pipelines and parentheses.
    ("{{ \"x\" | printf \"%s-%s\" \"y\" }} {{ 3 | printf \"%d\" }} {{ (printf \"%s\" \"in\") | printf \"<%s>\" }}", "{}"),
    ("{{ (index .Values.m \"k\").inner }} {{ (.Values.m).k.inner }}", r#"{"m": {"k": {"inner": "deep"}}}"#),
    ("{{ .Values.l | len }} {{ len .Values.m }} {{ len \"héllo\" }}", r#"{"l": [1, 2], "m": {"a": 1}}"#),
    // Built-in functions.
    ("{{ and 1 0 2 }}|{{ and 1 2 }}|{{ or 0 \"\" }}|{{ or 0 \"x\" 3 }}|{{ not 0 }}|{{ not .Values.l }}", r#"{"l": [1]}"#),
    ("{{ and .Values.missing (index .Values.missing \"boom\") }}|{{ or 1 (index 3 1) }}", "{}"),
    ("{{ eq 1 1 }} {{ eq \"a\" \"b\" \"a\" }} {{ ne 1 2 }} {{ eq .Values.f 2.5 }} {{ eq .Values.missing nil }} {{ eq .Values.s nil }}", r#"{"f": 2.5, "s": "x"}"#),
    ("{{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }} {{ lt .Values.a .Values.b }}", r#"{"a": 1, "b": 2}"#),
    ("{{ index .Values.l 1 }} {{ index .Values.m \"k\" }} {{ index .Values.n \"a\" 0 }} {{ index \"abc\" 1 }} [{{ index .Values.m \"missing\" }}]", r#"{"l": ["x", "y"], "m": {"k": "v"}, "n": {"a": [7]}}"#),
    // (Helm replaces text/template's `slice` with sprig's, which takes lists only.)
    ("{{ slice .Values.l 1 }} {{ slice .Values.l 0 2 }} {{ slice .Values.l }}", r#"{"l": [1, 2, 3]}"#),
    ("{{ print 1 2 \"a\" 3 \"b\" \"c\" nil }}|{{ println \"x\" 1 }}|{{ print }}", "{}"),
    ("{{ html \"<a href='x'>&\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c=d/é\" }}", "{}"),
    // printf verbs.
    ("{{ printf \"%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%#x\" 42 42 42 42 42 255 255 8 5 255 }}", "{}"),
    ("{{ printf \"%f|%.2f|%8.3f|%e|%g|%.3g|%G|%v\" 3.14159 3.14159 3.14159 1234.5 0.000012 1234.5678 1e-7 2.0 }}", "{}"),
    ("{{ printf \"%s|%10s|%-10s|%.2s|%q|%x|% x|%v\" \"go\" \"go\" \"go\" \"gopher\" \"a\\\"b\" \"hi\" \"hi\" \"v\" }}", "{}"),
    ("{{ printf \"%t|%v|%d|%s|%v|%v\" true false .Values.l .Values.l .Values.m .Values.missing }}", r#"{"l": [1, 2], "m": {"a": "b"}}"#),
    ("{{ printf \"%d %s\" \"str\" 5 }}|{{ printf \"%d\" }}|{{ printf \"%d\" 1 2 }}|{{ printf \"%!\" }}|{{ printf \"100%%\" }}", "{}"),
    ("{{ printf \"%d\" .Values.i }} {{ printf \"%v\" .Values.i }} {{ printf \"%.0f\" .Values.i }} {{ printf \"%T\" .Values.l }}", r#"{"i": 3, "l": []}"#),
    ("{{ printf \"%c|%q|%U\" 65 65 65 }}", "{}"),
    ("{{ printf \"%6.2f|%-8.3e|%+.1f\" -3.14159 12345.678 2.25 }}", "{}"),
    // Errors Helm reports.
    ("x{{ .Values.foo.bar }}", "{}"),
    ("{{ .Values.a.b.c.d }}", r#"{"a": {"b": {}}}"#),
    ("{{ .Values.name.foo }}", r#"{"name": "x"}"#),
    ("{{ $x := .Values.name }}{{ $x.foo }}", r#"{"name": "x"}"#),
    ("{{ eq 1 1.0 }}", "{}"),
    ("{{ lt \"a\" 1 }}", "{}"),
    ("{{ index .Values.l 5 }}", r#"{"l": [1]}"#),
    ("{{ len 3 }}", "{}"),
    ("{{ printf 3 }}", "{}"),
    ("line one\n  {{ template \"nope\" }}", "{}"),
    ("{{ .Values.l.foo }}", r#"{"l": [1]}"#),
    ("{{ nil }}", "{}"),
    ("{{ \"x\" 1 }}", "{}"),
    ("{{ index nil 1 }}", "{}"),
    ("{{ range \"str\" }}{{ end }}", "{}"),
    ("{{ not }}", "{}"),
    ("{{ eq 1 }}", "{}"),
    // sprig: strings.
    ("{{ upper \"abc\" }} {{ lower \"ABC\" }} {{ title \"hello wide world\" }} {{ trim \"  x  \" }} {{ trimAll \"$\" \"$$5$\" }} {{ trimPrefix \"v\" \"v1.2\" }} {{ trimSuffix \"-\" \"name-\" }} {{ nospace \"a b\\tc\" }}", "{}"),
    ("{{ trunc 3 \"abcdef\" }} {{ trunc -2 \"abcdef\" }} {{ trunc 10 \"ab\" }} {{ substr 1 3 \"abcdef\" }} {{ substr 2 99 \"abcdef\" }} {{ repeat 3 \"ab\" }}", "{}"),
    ("{{ contains \"b\" \"abc\" }} {{ hasPrefix \"a\" \"abc\" }} {{ hasSuffix \"x\" \"abc\" }} {{ replace \"a\" \"o\" \"banana\" }}", "{}"),
    ("{{ quote \"a\" 1 .Values.missing .Values.f }} {{ squote \"b\" 2 }} {{ cat \"x\" 1 nil \"y\" }} {{ .Values.port | quote }}", r#"{"f": 1000000, "port": 8080}"#),
    ("a:{{ indent 2 \"x\\ny\" }}|b:{{ nindent 4 \"p\\nq\" }}|{{ \"z\" | indent 3 }}", "{}"),
    ("{{ toString 1 }} {{ toString .Values.f }} {{ toString .Values.l }} {{ join \",\" .Values.l }} {{ join \"-\" (list 1 nil \"b\") }} {{ sortAlpha (list \"b\" \"a\" \"C\") }}", r#"{"f": 2.5, "l": ["x", 2, true]}"#),
    ("{{ splitList \",\" \"a,b,,c\" }} {{ (split \".\" \"x.y\")._1 }} {{ toStrings (list 1 \"a\" 2.5) }}", "{}"),
    ("{{ b64enc \"hello\" }} {{ b64dec \"aGVsbG8=\" }} {{ sha256sum \"abc\" }} {{ sha1sum \"abc\" }} {{ adler32sum \"abc\" }}", "{}"),
    ("{{ regexMatch \"^[a-z]+$\" \"abc\" }} {{ regexFind \"[0-9]+\" \"ab12cd34\" }} {{ regexFindAll \"[0-9]\" \"a1b2c3\" 2 }} {{ regexReplaceAll \"(a)(b)\" \"xabyab\" \"${2}$1\" }} {{ regexReplaceAllLiteral \"a\" \"banana\" \"$1\" }} {{ regexSplit \",\" \"a,b,c\" -1 }}", "{}"),
    ("{{ plural \"one\" \"many\" 1 }} {{ plural \"one\" \"many\" 2 }} {{ atoi \"42\" }} {{ atoi \"x\" }}", "{}"),
    // sprig: defaults, types and flow.
    ("{{ default \"d\" .Values.missing }} {{ default \"d\" .Values.e }} {{ default \"d\" .Values.s }} {{ default 5 .Values.zero }} {{ .Values.missing | default \"piped\" }}", r#"{"e": "", "s": "set", "zero": 0}"#),
    ("{{ empty .Values.missing }} {{ empty 0 }} {{ empty \"\" }} {{ empty (list) }} {{ empty (dict) }} {{ empty .Values.m }} {{ empty false }} {{ empty 1 }}", r#"{"m": {"a": 1}}"#),
    ("{{ coalesce .Values.missing \"\" 0 \"first\" \"second\" }} {{ all 1 \"a\" true }} {{ all 1 0 }} {{ any 0 \"\" 3 }} {{ ternary \"yes\" \"no\" true }} {{ ternary \"yes\" \"no\" false }}", "{}"),
    ("{{ typeOf 1 }} {{ typeOf .Values.f }} {{ typeOf (list) }} {{ typeOf (dict) }} {{ typeOf (add 1 2) }} {{ kindOf \"s\" }} {{ kindOf (list) }} {{ kindOf .Values.missing }} {{ kindIs \"map\" .Values }} {{ typeIs \"string\" \"x\" }}", r#"{"f": 1.5}"#),
    ("{{ int \"42\" }} {{ int 3.9 }} {{ int64 \"0x1F\" }} {{ float64 \"2.5\" }} {{ int .Values.f }} {{ float64 3 }} {{ int \"1.000\" }} {{ int true }}", r#"{"f": 7.7}"#),
    ("{{ fail \"boom: broken\" }}", "{}"),
    // sprig: math.
    ("{{ add 1 2 3 }} {{ add1 .Values.f }} {{ sub 10 3 }} {{ mul 2 3 4 }} {{ div 7 2 }} {{ mod 7 3 }} {{ max 1 9 3 }} {{ min 4 2 8 }} {{ floor 2.7 }} {{ ceil 2.1 }} {{ add .Values.f 1 }}", r#"{"f": 2.9}"#),
    ("{{ addf 0.1 0.2 }} {{ addf 1 2.5 3 }} {{ add1f 1.5 }} {{ subf 1 0.9 }} {{ mulf 1.1 3 }} {{ mulf .Values.f 100 }} {{ divf 10 4 }} {{ maxf 1.5 2 0.5 }} {{ minf 1.5 2 0.5 }}", r#"{"f": 0.07}"#),
    ("{{ until 4 }} {{ untilStep 1 10 3 }} {{ untilStep 5 0 -2 }} {{ range until 2 }}{{ . }}{{ end }}", "{}"),
    ("{{ div 1 0 }}", "{}"),
    // sprig: lists.
    ("{{ list 1 \"a\" nil }} {{ append (list 1) 2 }} {{ prepend (list 1) 0 }} {{ first (list 1 2) }} {{ last (list 1 2) }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }} {{ reverse (list 1 2 3) }}", "{}"),
    ("{{ uniq (list 1 2 1 \"a\" \"a\") }} {{ without (list 1 2 3 2) 2 }} {{ has 2 (list 1 2) }} {{ has \"x\" .Values.missing }} {{ compact (list 0 1 \"\" \"b\" nil) }} {{ concat (list 1) (list 2 3) }}", "{}"),
    ("{{ first (list) }}|{{ append .Values.l \"z\" }}|{{ .Values.l }}", r#"{"l": ["x"]}"#),
    ("{{ first \"str\" }}", "{}"),
    // sprig: dicts, shared and changed in place.
    ("{{ $d := dict \"a\" 1 \"b\" \"two\" }}{{ $d }} {{ get $d \"a\" }} [{{ get $d \"zz\" }}] {{ hasKey $d \"b\" }} {{ hasKey $d \"c\" }} {{ dict \"odd\" }}", "{}"),
    ("{{ $d := dict }}{{ $_ := set $d \"k\" \"v\" }}{{ $d.k }} {{ $e := $d }}{{ $_ := set $e \"k2\" 2 }}{{ $d }} {{ unset $d \"k\" }}", "{}"),
    ("{{ $_ := set .Values \"added\" \"yes\" }}{{ .Values.added }} {{ keys .Values.m | sortAlpha }} {{ values .Values.m | sortAlpha }} {{ pick .Values.m \"a\" }} {{ omit .Values.m \"a\" }} {{ pluck \"a\" .Values.m .Values.n }}", r#"{"m": {"a": 1, "b": 2}, "n": {"a": 3}}"#),
    ("{{ $dst := dict \"a\" 1 \"n\" (dict \"x\" 1) \"e\" \"\" }}{{ $_ := merge $dst (dict \"a\" 2 \"b\" 3 \"n\" (dict \"y\" 2) \"e\" \"filled\") }}{{ $dst }}", "{}"),
    ("{{ $dst := dict \"a\" 1 \"n\" (dict \"x\" 1) }}{{ $_ := mergeOverwrite $dst (dict \"a\" 2 \"n\" (dict \"x\" 5 \"y\" 2) \"z\" 0) }}{{ $dst }}", "{}"),
    ("{{ $c := deepCopy .Values.m }}{{ $_ := set $c \"a\" 9 }}{{ .Values.m.a }} {{ $c.a }} {{ dig \"m\" \"a\" \"none\" .Values }} {{ dig \"m\" \"zz\" \"none\" .Values }}", r#"{"m": {"a": 1}}"#),
    ("{{ dig \"a\" \"b\" \"none\" (dict \"a\" (dict \"b\" 1)) }} {{ dig \"a\" \"x\" \"none\" (dict \"a\" (dict \"b\" 1)) }} {{ dig \"m\" \"a\" 0 (.Values | deepCopy) }} {{ printf \"%T\" .Values }}", r#"{"m": {"a": 1}}"#),
    ("{{ trunc .Values.n \"abc\" }}", r#"{"n": 2}"#),
    ("{{ upper .Values.missing }}", "{}"),
    // sprig: semantic versions.
    ("{{ semverCompare \">=1.19-0\" \"v1.19.3-gke.1\" }} {{ semverCompare \">=1.19\" \"v1.19.3-gke.1\" }} {{ semverCompare \"^1.2.3\" \"1.9.0\" }} {{ semverCompare \"~1.2.3\" \"1.3.0\" }} {{ semverCompare \"1.2.x\" \"1.2.7\" }} {{ semverCompare \">1.2, <2\" \"1.5.0\" }} {{ semverCompare \"1.2 - 1.4.5\" \"1.4.6\" }} {{ semverCompare \"<1.0 || >=3\" \"3.1.0\" }} {{ semverCompare \"!=1.2.3\" \"1.2.3\" }} {{ semverCompare \"^0.2.3\" \"0.3.0\" }} {{ semverCompare \">= 1.21.0-0 < 1.30\" \"1.25.1\" }}", "{}"),
    ("{{ semverCompare \"<=1.2\" \"1.2.9\" }} {{ semverCompare \"<=1.2\" \"1.3.0\" }} {{ semverCompare \">1.2\" \"1.2.9\" }} {{ semverCompare \">1.2\" \"1.3.0\" }} {{ semverCompare \"=1.2\" \"1.2.5\" }} {{ semverCompare \"~1\" \"1.9.9\" }} {{ semverCompare \">1.0.0-alpha\" \"1.0.0-beta\" }} {{ semverCompare \">=1.0.0-rc.1\" \"1.0.0-rc.10\" }}", "{}"),
    ("{{ $v := semver \"v1.2.3-rc.1+build.5\" }}{{ $v }} {{ $v.Major }} {{ $v.Minor }} {{ $v.Patch }} {{ $v.Prerelease }} {{ $v.Metadata }} {{ $v.Original }} {{ (semver \"1.2.3\").Compare (semver \"1.3.0\") }} {{ semver \"2\" }}", "{}"),
    ("{{ semverCompare \"nonsense!\" \"1.0.0\" }}", "{}"),
    ("{{ semverCompare \">1\" \"not-a-version\" }}", "{}"),
    ("{{ semver \"1.2.3.4\" }}", "{}"),
    // Helm's functions.
    ("{{ toYaml .Values }}", r#"{"name": "web", "replicas": 3, "ratio": 0.5, "big": 1000000, "huge": 1e21, "tiny": 1e-7, "on": true, "off": null, "tags": ["a", "b"], "empty": [], "obj": {}, "nested": {"k": {"j": "v"}, "list": [{"a": 1, "b": 2}, [1, 2], []]}}"#),
    ("{{ toYaml .Values }}", r##"{"s1": "true", "s2": "yes", "s3": "1", "s4": "1.5", "s5": "2024-01-01", "s6": "12:30", "s7": "", "s8": "null", "s9": "~", "s10": "0x1F", "s11": "- item", "s12": "a: b", "s13": "#hash", "s14": " lead", "s15": "trail ", "s16": "it's", "s17": "tab\there", "s18": "café", "s19": "@at", "s20": "a #b", "s21": "on", "s22": "1e3", "s23": "v1.2.3", "s24": "*star", "s25": "x: ", "s26": "Off", "s27": "+1", "s28": ".5", "s29": "1_000", "s30": "0o17"}"##),
    ("{{ toYaml .Values }}", r#"{"multi": "line one\nline two", "trailing": "ends\n", "many": "ends\n\n", "lead": "  indented\nsecond", "blank": "a\n\nb"}"#),
    ("{{ toYaml .Values }}", r#"{"long": "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.", "longquoted": "- Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore", "nest": {"deeper": {"long": "Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat."}}, "word": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#),
    ("{{ toYaml .Values }}", r#"{"item10": 1, "item9": 2, "Item": 3, "_x": 4, "a-b": 5, "aB": 6, "a1": 7, "a01": 8, "": 9, "true": 10, "1": 11, "key with space": 12, "k:v": 13}"#),
    ("{{ toYaml .Values.l }}|{{ toYaml .Values.s }}|{{ toYaml .Values.n }}|{{ toYaml .Values.missing }}|{{ toYaml 3 }}|{{ toYaml (list) }}|{{ toYaml (dict) }}", r#"{"l": [1, "two", {"x": [3]}], "s": "text", "n": 2.5}"#),
    ("spec:\n  {{- toYaml .Values.r | nindent 2 }}\nlabels:\n{{ toYaml .Values.l | indent 2 }}", r#"{"r": {"limits": {"cpu": "100m", "memory": "128Mi"}}, "l": {"app": "web"}}"#),
    ("{{ toJson .Values }} {{ toJson .Values.s }} {{ toJson 3 }} {{ toJson .Values.missing }} {{ toPrettyJson .Values.m }} {{ toRawJson .Values.h }}", r#"{"s": "a<b>&c", "n": 1e21, "f": 0.5, "i": 3, "l": [1, null], "m": {"b": [1, 2], "a": {}}, "h": "<&>"}"#),
    ("{{ define \"lbl\" }}app: {{ .name }}{{ end }}{{ include \"lbl\" .Values | upper }} {{ include \"lbl\" (dict \"name\" \"x\") | quote }}", r#"{"name": "web"}"#),
    ("{{ tpl \"{{ .Values.a }}-{{ .Values.missing }}\" . }} {{ tpl .Values.t . }} {{ tpl \"{{ define \\\"inner\\\" }}I{{ end }}{{ include \\\"inner\\\" . }}\" . }}", r#"{"a": "A", "t": "{{ .Values.a | lower }}"}"#),
    ("{{ required \"a is required\" .Values.a }} {{ required \"z\" .Values.zero }}", r#"{"a": "set", "zero": 0}"#),
    ("{{ required \"value b is required\" .Values.b }}", "{}"),
    ("{{ tpl \"{{ .Values.x.y }}\" . }}", "{}"),
    ("{{ tpl \"{{ if }}\" . }}", "{}"),
    ("{{ include \"nope\" . }}", "{}"),
    ("{{ define \"x\" }}{{ .Values.a.b }}{{ end }}{{ define \"y\" }}{{ include \"x\" . }}{{ end }}{{ include \"y\" . }}", "{}"),
    ("{{ define \"x\" }}{{ fail \"inner failure\" }}{{ end }}{{ include \"x\" . }}", "{}"),
    ("{{ define \"x\" }}{{ eq 1 \"a\" }}{{ end }}{{ include \"x\" . }}", "{}"),
    ("{{ define \"loop\" }}{{ include \"loop\" . }}{{ end }}{{ include \"loop\" . }}", "{}"),
    ("{{ $m := fromYaml .Values.y }}{{ toJson $m }} {{ $m.list }} {{ fromYamlArray \"- 1\\n- two\\n- yes\" | toJson }} {{ (fromJson \"{\\\"a\\\": [1, 2.5]}\").a }} {{ fromJsonArray \"[1, \\\"x\\\"]\" | toJson }} {{ (fromYaml \"\").x }}", r#"{"y": "a: yes\nb: 017\nc: 0x1F\nd: 2024-01-01\nlist:\n- x\n- 1.5\nanchor: &a {k: v}\nref: *a\nempty:\n"}"#),
    ("{{ (fromYaml \"- a\\n- b\").Error }}|{{ fromYamlArray \"a: 1\" }}|{{ (fromJson \"[1]\").Error }}", "{}"),
    ("{{ lookup \"v1\" \"Secret\" \"ns\" \"name\" }} {{ (lookup \"v1\" \"Secret\" \"ns\" \"name\").data }}", "{}"),
    // Parse errors.
    ("{{ if }}", "{}"),
    ("{{ if .Values.x }}never closed", "{}"),
    ("{{ $undefined }}", "{}"),
    ("{{ nofunc 1 }}", "{}"),
    ("{{ . | 3 }}", "{}"),
    ("{{ break }}", "{}"),
    ("{{ end }}", "{}"),
    ("{{ \"unterminated }}", "{}"),
    ("{{ .X", "{}"),
    ("{{ 3x }}", "{}"),
    ("{{/* comment */ . }}", "{}"),
    ("{{ else }}", "{}"),
    ("{{ range $a, $b, $c := .Values }}{{ end }}", "{}"),
];

/// JSON as Helm's values are made of it (numbers float64): the crate's own reader.
fn to_value(v: &serde_json::Value) -> Value {
    ferroflux_helm::yaml::from_json(&v.to_string()).expect("test values are JSON")
}

/// Ours, as Helm runs a template: missing keys read as nil, `<no value>` erased,
/// errors in Helm's words.
fn render_ours(template: &str, values: &serde_json::Value) -> Result<String, String> {
    let mut templates = ferroflux_helm::funcs::chart_templates(false);
    templates
        .parse(NAME, template)
        .map_err(|e| ferroflux_helm::errors::parse_error(NAME, &e))?;
    let mut top = BTreeMap::new();
    let values = match to_value(values) {
        Value::Map(map) => Value::Map(MapRef::named("common.Values", map.snapshot())),
        other => other,
    };
    top.insert("Values".to_owned(), values);
    ferroflux_helm::funcs::execute(&templates, NAME, &Value::map(top))
        .map(|out| out.replace("<no value>", ""))
        .map_err(|e| ferroflux_helm::errors::exec_error(NAME, &e))
}

fn render_helm(cases: &[(&str, serde_json::Value)]) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Helm SDK oracle is missing ({}): run ./scripts/test.sh, which creates .venv",
        python.display()
    );
    let request = serde_json::json!({
        "cases": cases.iter().map(|(t, v)| serde_json::json!({"template": t, "values": v})).collect::<Vec<_>>()
    });
    let mut child = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helm_render.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting the Helm SDK");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("writing the cases");
    let output = child.wait_with_output().expect("the Helm SDK ran");
    assert!(output.status.success(), "the Helm SDK script failed");
    serde_json::from_slice(&output.stdout).expect("the Helm SDK's JSON")
}

#[test]
fn templates_render_as_helm_renders_them() {
    let cases: Vec<(&str, serde_json::Value)> = CASES
        .iter()
        .map(|(t, v)| (*t, serde_json::from_str(v).expect("case values are JSON")))
        .collect();
    let helm = render_helm(&cases);
    assert_eq!(helm.len(), cases.len());
    let mut failures = Vec::new();
    for ((template, values), expected) in cases.iter().zip(&helm) {
        let ours = render_ours(template, values);
        match (expected.get("ok").and_then(|v| v.as_str()), &ours) {
            (Some(theirs), Ok(ours)) if theirs == ours => {}
            (Some(theirs), _) => failures.push(format!(
                "{template:?}\n  helm: {theirs:?}\n  ours: {ours:?}"
            )),
            (None, Ok(ours)) => failures.push(format!(
                "{template:?}\n  helm failed: {}\n  ours: {ours:?}",
                expected["error"]
            )),
            (None, Err(error)) => {
                let theirs = expected["error"].as_str().unwrap_or_default();
                if theirs != error {
                    failures.push(format!("{template:?}\n  helm: {theirs}\n  ours: {error}"));
                }
            }
        }
    }
    println!(
        "{} of {} cases agree with Helm",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
