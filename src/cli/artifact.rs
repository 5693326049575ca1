//! `ferroflux push|pull|tag|list|build artifact(s)`: directories packed as Flux packs
//! them and moved to and from OCI registries as the flux CLI does, so an
//! OCIRepository (ours or Flux's) pulls what we push and we pull what flux pushed.

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

/// How to reach the registry, for every artifact command.
#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Registry credentials as USERNAME:PASSWORD.
    #[arg(long)]
    pub creds: Option<String>,
    /// Talk plain HTTP to the registry.
    #[arg(long = "insecure-registry")]
    pub insecure_registry: bool,
    /// How long the command may take.
    #[arg(long, default_value = "5m", value_parser = crate::actors::parse_duration)]
    pub timeout: Duration,
}

impl RegistryArgs {
    fn client(&self, repository: &str) -> anyhow::Result<OciClient> {
        let auth = match &self.creds {
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
        Ok(OciClient::new(
            repository,
            self.insecure_registry,
            auth,
            self.timeout,
        )?)
    }
}

fn block_on<T>(work: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(work)
}

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
    /// More annotations, KEY=VALUE (repeatable).
    #[arg(long = "annotations", short = 'a')]
    pub annotations: Vec<String>,
    /// Paths to leave out, in .gitignore format, comma separated.
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// What to pull: oci://HOST/REPOSITORY:TAG or oci://HOST/REPOSITORY@sha256:DIGEST.
    pub url: String,
    /// The directory to extract the content to.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// The artifact to tag: oci://HOST/REPOSITORY:TAG.
    pub url: String,
    /// The new tags (repeatable).
    #[arg(long = "tag", required = true)]
    pub tags: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The repository: oci://HOST/REPOSITORY.
    pub url: String,
    /// Only the tags in this semver range.
    #[arg(long)]
    pub semver: Option<String>,
    /// Only the tags matching this regular expression.
    #[arg(long = "filter-regex")]
    pub filter_regex: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The directory to pack.
    #[arg(long)]
    pub path: PathBuf,
    /// The tarball to write.
    #[arg(long, short = 'o', default_value = "artifact.tgz")]
    pub output: PathBuf,
    /// Paths to leave out, in .gitignore format, comma separated.
    #[arg(long = "ignore-paths", value_delimiter = ',')]
    pub ignore_paths: Vec<String>,
}

/// `dir` packed as Flux packs artifacts, without what `ignore_paths` names.
fn pack(dir: &std::path::Path, ignore_paths: &[String]) -> anyhow::Result<Vec<u8>> {
    if !dir.is_dir() {
        bail!("invalid path '{}': not a directory", dir.display());
    }
    let patterns = ignore_paths.join("\n");
    let rules = IgnoreRules::load(dir, (!patterns.is_empty()).then_some(patterns.as_str()))
        .with_context(|| format!("reading the ignore rules of {}", dir.display()))?;
    let (content, _) =
        pack_dir(dir, &rules, Vec::new()).with_context(|| format!("packing {}", dir.display()))?;
    Ok(content)
}

/// `oci://host/repo@sha256:…` or `oci://host/repo:tag` → (repository, reference).
fn split_reference(url: &str) -> anyhow::Result<(String, String)> {
    if let Some((repository, digest)) = url.split_once('@') {
        return Ok((repository.to_owned(), digest.to_owned()));
    }
    split_tag(url)
}

pub fn pull(args: PullArgs) -> anyhow::Result<()> {
    let (repository, reference) = split_reference(&args.url)?;
    println!(
        "► pulling artifact from {}",
        args.url.trim_start_matches("oci://")
    );
    let client = args.registry.client(&repository)?;
    let (digest, manifest, content) = block_on(async {
        let (digest, manifest) = client.manifest(&reference).await?;
        let (layer, _) = ociartifact::select_layer(&manifest, None).map_err(anyhow::Error::msg)?;
        let content = client.blob(&layer.digest, 1 << 30).await?;
        Ok((digest, manifest, content))
    })?;
    let annotations = ociartifact::annotations(&manifest);
    if let Some(source) = annotations.get(SOURCE_ANNOTATION) {
        println!("✔ source {source}");
    }
    if let Some(revision) = annotations.get(REVISION_ANNOTATION) {
        println!("✔ revision {revision}");
    }
    println!("✔ digest {digest}");
    crate::source::artifact::extract_tar_gz(&content[..], &args.output)
        .with_context(|| format!("extracting to {}", args.output.display()))?;
    println!("✔ artifact content extracted to {}", args.output.display());
    Ok(())
}

pub fn tag(args: TagArgs) -> anyhow::Result<()> {
    let (repository, reference) = split_tag(&args.url)?;
    let client = args.registry.client(&repository)?;
    let name = repository.trim_start_matches("oci://");
    println!("► tagging artifact");
    block_on(async {
        let (_, manifest) = client.manifest_bytes(&reference).await?;
        for tag in &args.tags {
            client.push_manifest(tag, &manifest).await?;
            println!("✔ artifact tagged as {name}:{tag}");
        }
        Ok(())
    })
}

pub fn list(args: ListArgs) -> anyhow::Result<()> {
    let repository = args.url.clone();
    crate::source::oci::split_url(&repository)?;
    let client = args.registry.client(&repository)?;
    let filter = args
        .filter_regex
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .context("invalid --filter-regex")?;
    let rows = block_on(async {
        let mut tags = client.repository_tags().await?;
        if let Some(filter) = &filter {
            tags.retain(|t| filter.is_match(t));
        }
        if let Some(range) = &args.semver {
            let constraint = ferroflux_gotemplate::semver::Constraints::parse(range)
                .map_err(|e| anyhow::anyhow!("invalid --semver '{range}': {e}"))?;
            tags.retain(|t| {
                crate::source::helmrepo::parse_strict_version(&t.replace('_', "+"))
                    .is_some_and(|v| constraint.check(&v))
            });
        }
        let mut rows = Vec::new();
        for tag in tags {
            let (digest, manifest) = client.manifest(&tag).await?;
            let annotations = ociartifact::annotations(&manifest);
            let text = |key: &str| annotations.get(key).cloned().unwrap_or_default();
            rows.push(vec![
                format!("{}:{tag}", repository.trim_start_matches("oci://")),
                digest,
                text(SOURCE_ANNOTATION),
                text(REVISION_ANNOTATION),
            ]);
        }
        Ok(rows)
    })?;
    let mut table = vec![["ARTIFACT", "DIGEST", "SOURCE", "REVISION"]
        .map(str::to_owned)
        .to_vec()];
    table.extend(rows);
    print!("{}", crate::cli::flux::render_table(&table));
    Ok(())
}

pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let content = pack(&args.path, &args.ignore_paths)?;
    std::fs::write(&args.output, content)
        .with_context(|| format!("writing {}", args.output.display()))?;
    println!("✔ artifact created at {}", args.output.display());
    Ok(())
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
    let content = pack(&args.path, &args.ignore_paths)?;
    let display = args.url.trim_start_matches("oci://").to_owned();
    println!("► pushing artifact to {display}");
    let client = args.registry.client(&repository)?;
    let digest =
        block_on(async { Ok(ociartifact::push(&client, &tag, &content, &annotations).await?) })?;
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
