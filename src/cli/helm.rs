//! `ferroflux helm template [NAME] CHART`: a drop-in for `helm template` on local
//! charts (a directory or a packaged `.tgz`), rendered by the native engine with
//! Helm 4.2's defaults, output and error messages.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use ferroflux_helm::chart::{self, Chart};
use ferroflux_helm::release::{self, ReleaseOptions};
use ferroflux_helm::render::{RenderOptions, DEFAULT_KUBE_VERSION};
use ferroflux_helm::strvals::ValueOptions;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Render a chart locally and print the manifests, as `helm template` does:
    /// values from -f files and --set flags coalesced over the chart's, subcharts
    /// chosen by their conditions and tags, the schema checked, documents sorted in
    /// install order, hooks last. Charts come from a directory or a `.tgz`; chart
    /// repositories are not read.
    Template(TemplateArgs),
}

#[derive(Debug, clap::Args)]
pub struct TemplateArgs {
    /// NAME CHART, or CHART alone (the release is then called `release-name`).
    #[arg(required = true, num_args = 1.., value_names = ["NAME", "CHART"])]
    args: Vec<String>,
    /// The release's namespace (`.Release.Namespace`).
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// A YAML values file; repeat or separate with commas, later files win.
    #[arg(short = 'f', long = "values", value_delimiter = ',')]
    values: Vec<String>,
    /// Set values: `a.b=1,c[0]=x` (repeatable).
    #[arg(long = "set")]
    set: Vec<String>,
    /// Set values that stay strings.
    #[arg(long = "set-string")]
    set_string: Vec<String>,
    /// Set values from files: `key=path`.
    #[arg(long = "set-file")]
    set_file: Vec<String>,
    /// Set values from JSON: `key={"a":1}`, or a whole JSON object.
    #[arg(long = "set-json")]
    set_json: Vec<String>,
    /// Set one literal string value: `key=anything, even commas`.
    #[arg(long = "set-literal")]
    set_literal: Vec<String>,
    /// The Kubernetes version `.Capabilities.KubeVersion` reports.
    #[arg(long)]
    kube_version: Option<String>,
    /// Extra API versions for `.Capabilities.APIVersions` (repeatable, or commas).
    #[arg(short = 'a', long = "api-versions", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Print the CRDs of the chart's crds/ directories first.
    #[arg(long)]
    include_crds: bool,
    /// Only the documents of the templates matching these paths (globs, repeatable).
    #[arg(short = 's', long = "show-only")]
    show_only: Vec<String>,
    /// Leave out test hooks.
    #[arg(long)]
    skip_tests: bool,
    /// Leave out every hook.
    #[arg(long)]
    no_hooks: bool,
    /// Set `.Release.IsUpgrade` instead of `.Release.IsInstall`.
    #[arg(long)]
    is_upgrade: bool,
    /// `.Release.Revision`.
    #[arg(long, default_value_t = 1)]
    revision: i64,
    /// Do not check values against values.schema.json.
    #[arg(long)]
    skip_schema_validation: bool,
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let Command::Template(args) = command;
    match template(&args) {
        Ok(text) => {
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("Error: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The printed output, or Helm's error message, in the order Helm checks things.
fn template(args: &TemplateArgs) -> Result<String, String> {
    let kube_version = match &args.kube_version {
        Some(version) => parse_kube_version(version)
            .map_err(|e| format!("invalid kube version '{version}': {e}"))?,
        None => DEFAULT_KUBE_VERSION.to_owned(),
    };
    let (name, chart_ref) = match args.args.as_slice() {
        [chart] => ("release-name".to_owned(), chart.clone()),
        [name, chart] => (name.clone(), chart.clone()),
        [_, _, rest @ ..] => {
            return Err(format!(
                "expected at most two arguments, unexpected arguments: {}",
                rest.join(", ")
            ))
        }
        [] => return Err("requires at least 1 arg(s), only received 0".to_owned()),
    };
    let values = ValueOptions {
        value_files: args.values.clone(),
        values: args.set.clone(),
        string_values: args.set_string.clone(),
        file_values: args.set_file.clone(),
        json_values: args.set_json.clone(),
        literal_values: args.set_literal.clone(),
    }
    .merge_values(read_values_file)
    .map_err(|e| e.to_string())?;
    let chart = load(chart_ref.trim())?;
    let options = ReleaseOptions {
        render: RenderOptions {
            name,
            namespace: args.namespace.clone(),
            revision: args.revision,
            is_upgrade: args.is_upgrade,
            kube_version,
            api_versions: args.api_versions.clone(),
            strict: false,
            lookup: None,
        },
        include_crds: args.include_crds,
        skip_schema_validation: args.skip_schema_validation,
        subchart_notes: false,
    };
    let mut rendered =
        release::render_release(&chart, &ferroflux_gotemplate::Value::map(values), &options)
            .map_err(|e| {
                if e.has_release() {
                    format!("{e}\n\nUse --debug flag to render out invalid YAML")
                } else {
                    e.to_string()
                }
            })?;
    if args.no_hooks {
        rendered.hooks.clear();
    }
    release::template_output(&rendered, args.skip_tests, &args.show_only).map_err(|e| e.to_string())
}

/// A values file as Helm reads one: `-` is standard input.
fn read_values_file(path: &str) -> Result<Vec<u8>, String> {
    if path == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes).map_err(|e| e.to_string())?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| format!("open {path}: {}", go_io_error(&e)))
}

/// An IO error worded as Go's syscall errors are.
fn go_io_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// The chart at a local path, as Helm's LocateChart and loader find it.
fn load(reference: &str) -> Result<Chart, String> {
    let path = Path::new(reference);
    if !path.exists() {
        if path.is_absolute() || reference.starts_with('.') {
            return Err(format!("path {reference:?} not found"));
        }
        return Err(format!(
            "{reference:?} is not a local chart: ferroflux helm template reads chart directories and .tgz files only"
        ));
    }
    if path.is_dir() {
        if !path.join("Chart.yaml").is_file() {
            return Err(format!(
                "unable to detect chart at {}: no such file or directory",
                path.join("Chart.yaml").display()
            ));
        }
        chart::load_dir(path).map_err(|e| e.to_string())
    } else {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        chart::load_archive(&bytes).map_err(|e| e.to_string())
    }
}

/// Helm's ParseKubeVersion (Kubernetes' generic version parser): `v` optional,
/// at least major and minor, no zero-prefixed components; the result keeps what
/// was given, with a `v`.
fn parse_kube_version(text: &str) -> Result<String, String> {
    let trimmed = text.trim_start();
    let digits = trimmed.strip_prefix('v').unwrap_or(trimmed);
    let numeric_end = digits
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(digits.len());
    let mut numbers = &digits[..numeric_end];
    // The generic parser's pattern takes whole `.N` groups only.
    while numbers.ends_with('.') {
        numbers = &numbers[..numbers.len() - 1];
    }
    if numbers.is_empty() || numbers.contains("..") {
        return Err(format!("could not parse {text:?} as version"));
    }
    let components: Vec<&str> = numbers.split('.').collect();
    if components.len() < 2 {
        return Err(format!("illegal version string {text:?}"));
    }
    if let Some(zero) = components
        .iter()
        .find(|c| c.len() > 1 && c.starts_with('0'))
    {
        return Err(format!(
            "illegal zero-prefixed version component {zero:?} in {text:?}"
        ));
    }
    Ok(if text.starts_with('v') {
        text.to_owned()
    } else {
        format!("v{text}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_versions_parse_as_helm_parses_them() {
        assert_eq!(parse_kube_version("1.30").unwrap(), "v1.30");
        assert_eq!(
            parse_kube_version("v1.33.4-gke.1").unwrap(),
            "v1.33.4-gke.1"
        );
        assert_eq!(
            parse_kube_version("1").unwrap_err(),
            "illegal version string \"1\""
        );
        assert_eq!(
            parse_kube_version("one").unwrap_err(),
            "could not parse \"one\" as version"
        );
        assert_eq!(
            parse_kube_version("1.05").unwrap_err(),
            "illegal zero-prefixed version component \"05\" in \"1.05\""
        );
    }
}
