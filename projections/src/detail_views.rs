//! What the registers hold beyond the main views, for the exports that
//! need it (360Giving): organisations' registration numbers and projects'
//! descriptions. Kept apart so the views served as JSON keep their shape.

use serde::Serialize;

use crate::Projections;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrganisationView {
    pub organisation_id: String,
    pub name: String,
    /// As registered: a unified social credit code (统一社会信用代码) or
    /// another registration number; may be empty.
    pub registration_no: String,
}

impl Projections {
    /// Every registered social organisation, in registration order.
    pub fn organisations(&self) -> Vec<OrganisationView> {
        self.organisations
            .iter()
            .map(|organisation| OrganisationView {
                organisation_id: organisation.id.to_string(),
                name: organisation.name.clone(),
                registration_no: organisation.registration_no.clone(),
            })
            .collect()
    }

    /// The description a project was published with.
    pub fn project_description(&self, project_id: &str) -> Option<&str> {
        let index = self.projects.index_of(project_id)?;
        Some(&self.projects[index as usize].description)
    }
}
