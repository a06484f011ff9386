//! Pure domain types and rules: no I/O, no tonic, no sled.
//!
//! - [`alliance`]: alliances, memberships and their history.
//! - [`credit_code`]: the Unified Social Credit Code (统一社会信用代码).
//! - [`industry`]: GB/T 4754-2017 industry codes (国民经济行业分类).
//! - [`change`]: the change-log entry and write metadata.
//! - [`enterprise`]: the enterprise record, its validation, field masks and diffs.
//! - [`matching`]: keywords (jieba segmentation) and the explainable match score.
//! - [`supply_demand`]: supply–demand postings and matches (对接), their rules.
//! - [`ladder`]: the cultivation ladder: designations, derived stages, history.
//! - [`indicators`]: annual indicators per firm and year.
//! - [`policy`]: the versioned thresholds and candidate evaluation.
//! - [`filter`]: the AIP-160 filter language of `ListEnterprises`.
//! - [`sync`]: bulk-sync runs and the rule for one row.
//! - [`time`]: timestamps and calendar dates.
//! - [`update`]: etags and field masks, shared by every resource.

pub mod alliance;
pub mod change;
pub mod credit_code;
pub mod enterprise;
pub mod filter;
pub mod indicators;
pub mod industry;
pub mod ladder;
pub mod matching;
pub mod policy;
pub mod project;
pub mod supply_demand;
pub mod sync;
pub mod time;
pub mod update;
