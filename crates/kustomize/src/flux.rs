//! What a Flux Kustomization adds to the kustomization it builds: `targetNamespace`,
//! `namePrefix`/`nameSuffix`, `patches`, `images`, `components` and
//! `commonMetadata`. Flux writes these into the kustomization file at `spec.path`
//! before building; here they are folded into the parsed file, so nothing on disk
//! changes.

use crate::kustomization::{Image, Kustomization, Label, Patch, StringMap};
use crate::resource::Selector;

/// The overlay of one Flux Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluxOverlay {
    pub target_namespace: String,
    pub name_prefix: String,
    pub name_suffix: String,
    /// Inline patches and their optional targets.
    pub patches: Vec<(String, Option<Selector>)>,
    pub images: Vec<FluxImage>,
    pub components: Vec<String>,
    pub common_labels: StringMap,
    pub common_annotations: StringMap,
}

/// An `images` entry of a Flux Kustomization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FluxImage {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
}

impl FluxOverlay {
    /// Folds the overlay into the top kustomization, as Flux's generator does.
    pub(crate) fn apply_to(&self, k: &mut Kustomization) {
        if !self.target_namespace.is_empty() {
            k.namespace = self.target_namespace.clone();
        }
        if !self.name_prefix.is_empty() {
            k.name_prefix = self.name_prefix.clone();
        }
        if !self.name_suffix.is_empty() {
            k.name_suffix = self.name_suffix.clone();
        }
        for (patch, target) in &self.patches {
            k.patches.push(Patch {
                patch: patch.clone(),
                target: target.clone(),
                ..Default::default()
            });
        }
        for image in &self.images {
            k.images.push(Image {
                name: image.name.clone(),
                new_name: image.new_name.clone(),
                new_tag: image.new_tag.clone(),
                digest: image.digest.clone(),
                ..Default::default()
            });
        }
        k.components.extend(self.components.iter().cloned());
        // Metadata only: commonMetadata never touches selectors or templates.
        if !self.common_labels.is_empty() {
            k.labels.push(Label {
                pairs: self.common_labels.clone(),
                ..Default::default()
            });
        }
        k.common_annotations.extend(
            self.common_annotations
                .iter()
                .map(|(a, b)| (a.clone(), b.clone())),
        );
    }
}
