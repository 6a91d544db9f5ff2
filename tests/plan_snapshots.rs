//! The plan of every recipe and version, pinned. A change to a recipe, to how plans are made, or to
//! how keys are computed shows up here as a reviewed diff (`INSTA_UPDATE=always cargo test` rewrites).

use baker::plan::{PlanOptions, resolve};
use baker::recipe::Catalog;

#[test]
fn every_recipe_plan_is_pinned() {
    let catalog = Catalog::embedded().unwrap();
    for recipe in catalog.recipes() {
        for version in recipe.version_names() {
            let plan = resolve(
                recipe,
                &PlanOptions {
                    version: Some(version.to_owned()),
                    ..Default::default()
                },
            )
            .unwrap();
            insta::assert_json_snapshot!(
                format!("{}-{}-{}", recipe.name, recipe.distro, version),
                plan
            );
        }
    }
}
