//! `ferroflux push artifact`: a directory packed as Flux packs it and pushed to an OCI
//! registry as `flux push artifact` does, so an OCIRepository (ours or Flux's) pulls it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::source::artifact::pack_dir;
use crate::source::http::BasicAuth;
use crate::source::ignore::IgnoreRules;
use crate::source::oci::OciClient;
use crate::source::ociartifact::{
    self, CREATED_ANNOTATION, REVISION_ANNOTATION, SOURCE_ANNOTATION,
};

#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// Where to push: oci://HOST/REPOSITORY:TAG.
    pub url: String,
    /// The directory (or single file's directory) to pack.
    #[arg(long)]
    pub path: PathBuf,
    /// Where the content comes from, e.g. the Git URL (the
    /// org.opencontainers.image.source annotation).
    #[arg(long)]
    pub source: String,
    /// Its revision, e.g. main@sha1:COMMIT (org.opencontainers.image.revision).
    #[arg(long)]
    pub revision: String,
    /// Registry credentials as USERNAME:PASSWORD.
    #[arg(long)]
    pub creds: Option<String>,
    /// Talk plain HTTP to the registry.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: bool,
    /// More annotations, KEY=VALUE (repeatable).
    #[arg(long = "annotations", short = 'a')]
    pub annotations: Vec<String>,
    /// Paths to leave out, in .gitignore format, comma separated.
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
    /// How long the push may take.
    #[arg(long, default_value = "5m", value_parser = crate::actors::parse_duration)]
    pub timeout: Duration,
}

/// `oci://host/repo:tag` → (`oci://host/repo`, `tag`).
pub fn split_tag(url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = url.strip_prefix("oci://") else {
        bail!("invalid URL '{url}': it must start with oci://");
    };
    let last_slash = rest.rfind('/').unwrap_or(0);
    match rest[last_slash..].rfind(':') {
        Some(colon) if last_slash > 0 => {
            let at = last_slash + colon;
            let tag = &rest[at + 1..];
            if tag.is_empty() {
                bail!("invalid URL '{url}': empty tag");
            }
            Ok((format!("oci://{}", &rest[..at]), tag.to_owned()))
        }
        _ => bail!("invalid URL '{url}': a tag is required (oci://HOST/REPOSITORY:TAG)"),
    }
}

pub fn push(args: PushArgs) -> anyhow::Result<()> {
    let (repository, tag) = split_tag(&args.url)?;
    let mut annotations: BTreeMap<String, String> = BTreeMap::new();
    annotations.insert(SOURCE_ANNOTATION.into(), args.source.clone());
    annotations.insert(REVISION_ANNOTATION.into(), args.revision.clone());
    annotations.insert(
        CREATED_ANNOTATION.into(),
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    for pair in &args.annotations {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("invalid annotation '{pair}': want KEY=VALUE");
        };
        annotations.insert(key.to_owned(), value.to_owned());
    }
    let auth = match &args.creds {
        None => None,
        Some(creds) => {
            let (username, password) = creds
                .split_once(':')
                .context("invalid --creds: want USERNAME:PASSWORD")?;
            Some(BasicAuth {
                username: username.to_owned(),
                password: password.to_owned(),
            })
        }
    };
    let root = if args.path.is_dir() {
        args.path.clone()
    } else {
        bail!("invalid path '{}': not a directory", args.path.display());
    };
    let patterns = args.ignore_paths.join("\n");
    let rules = IgnoreRules::load(&root, (!patterns.is_empty()).then_some(patterns.as_str()))
        .with_context(|| format!("reading the ignore rules of {}", root.display()))?;
    let (content, _) = pack_dir(&root, &rules, Vec::new())
        .with_context(|| format!("packing {}", root.display()))?;
    let display = args.url.trim_start_matches("oci://").to_owned();
    println!("► pushing artifact to {display}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let digest = runtime.block_on(async {
        let client = OciClient::new(&repository, args.insecure_registry, auth, args.timeout)?;
        ociartifact::push(&client, &tag, &content, &annotations).await
    })?;
    let name = repository.trim_start_matches("oci://");
    println!("✔ artifact successfully pushed to {name}@{digest}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_at_the_tag_of_the_last_path_segment() {
        assert_eq!(
            split_tag("oci://127.0.0.1:5000/apps/manifests:v1.2").unwrap(),
            (
                "oci://127.0.0.1:5000/apps/manifests".to_owned(),
                "v1.2".to_owned()
            )
        );
        assert!(
            split_tag("oci://127.0.0.1:5000/apps/manifests").is_err(),
            "the port is no tag"
        );
        assert!(split_tag("oci://host/repo:").is_err());
        assert!(split_tag("https://host/repo:v1").is_err());
    }
}
