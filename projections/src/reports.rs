//! Which records name each report by its SHA-256 (docs/documents.md): a
//! grant's self-assessment and a project's completion carry
//! `report_sha256`, and the document uploaded under that hash is the
//! report. Indexed as the records apply, so finding a document's records
//! is one lookup, not a scan of every grant and project.

use serde::Serialize;

use crate::accounts::EntityIndex;
use crate::fast_hash::FastMap;

/// Which kind of record names a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// `GrantSelfAssessmentFiled` (自评报告).
    GrantSelfAssessment,
    /// `ProjectCompleted` (完成报告).
    ProjectCompletion,
}

impl ReportKind {
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::GrantSelfAssessment => "grant_self_assessment",
            ReportKind::ProjectCompletion => "project_completion",
        }
    }
}

/// One record naming a report, by where its entity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReportEntry {
    pub seq: u64,
    pub kind: ReportKind,
    /// The grant's or the project's index.
    pub entity: EntityIndex,
    /// The self-assessment's position among its grant's; 0 for a completion.
    pub position: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReportIndex {
    by_hash: FastMap<[u8; 32], Vec<ReportEntry>>,
}

impl ReportIndex {
    /// Records `entry` under `report_sha256`; a hash that is not 32 bytes
    /// (which `decide` refuses) names no document and is not indexed.
    pub fn add(&mut self, report_sha256: &[u8], entry: ReportEntry) {
        let Ok(hash) = <[u8; 32]>::try_from(report_sha256) else {
            return;
        };
        let entries = self.by_hash.entry(hash).or_default();
        assert!(
            entries.last().is_none_or(|last| last.seq < entry.seq),
            "reports are indexed in log order"
        );
        entries.push(entry);
    }

    pub fn entries(&self, report_sha256: &[u8; 32]) -> &[ReportEntry] {
        self.by_hash
            .get(report_sha256)
            .map_or(&[], |entries| entries.as_slice())
    }
}

/// A record that names a report, as the documents API and the page show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportReference {
    pub seq: u64,
    pub kind: ReportKind,
    /// The grant's or the project's id.
    pub id: String,
    /// The self-assessment's quarter, or the day the project was completed.
    pub period: String,
    /// The organisation holding the grant; none for a project.
    pub organisation_id: Option<String>,
}

impl crate::Projections {
    /// The records naming `report_sha256` as their report, in log order.
    pub fn report_references(&self, report_sha256: &[u8; 32]) -> Vec<ReportReference> {
        self.reports
            .entries(report_sha256)
            .iter()
            .map(|entry| match entry.kind {
                ReportKind::GrantSelfAssessment => {
                    let grant = &self.grants[entry.entity as usize];
                    let assessment = &grant.self_assessments[entry.position as usize];
                    assert_eq!(
                        assessment.report_sha256, report_sha256,
                        "the index points at the self-assessment naming the report"
                    );
                    let application = &self.applications[grant.application as usize];
                    let organisation = &self.organisations[application.organisation as usize];
                    ReportReference {
                        seq: entry.seq,
                        kind: entry.kind,
                        id: grant.id.to_string(),
                        period: assessment.quarter.clone(),
                        organisation_id: Some(organisation.id.to_string()),
                    }
                }
                ReportKind::ProjectCompletion => {
                    let project = &self.projects[entry.entity as usize];
                    let completion = project
                        .completion
                        .as_ref()
                        .expect("an indexed project is completed");
                    ReportReference {
                        seq: entry.seq,
                        kind: entry.kind,
                        id: project.id.to_string(),
                        period: completion.completed_on.render(),
                        organisation_id: None,
                    }
                }
            })
            .collect()
    }
}
