//! The raw-sled floor of a bulk sync, for `ladder bench sync`: the same
//! records, change-log entries and run record that a sync writes, put
//! straight into a fresh sled database with the same flush policy (one `apply_batch` and one `flush` per
//! chunk), without gRPC, validation, reads of the previous state or the
//! writer thread. Whatever ladder adds on top of sled shows as the ratio of
//! the two rates.

use std::time::{Duration, Instant};

use crate::domain::change::{ChangeKind, WriteMeta};
use crate::domain::enterprise::Enterprise;
use crate::domain::sync::SyncRun;
use crate::domain::time::now_micros;
use crate::error::Result;
use crate::store::sync::run_key;
use crate::store::writer::reclaim;
use crate::store::{codec, keys, open_sled, records, StoreOptions};

/// What the floor writes for each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorKeys {
    /// Everything a sync writes for a new firm.
    Same,
    /// The record alone: sled's own ceiling for one key per row.
    RecordOnly,
}

/// One floor run.
#[derive(Debug, Clone, Copy)]
pub struct FloorRun {
    /// Rows written.
    pub rows: usize,
    /// Keys inserted (counters included).
    pub keys: usize,
    /// Wall time of the writes and flushes.
    pub elapsed: Duration,
}

/// Writes `firms` (new records, as the sync rule produced them) into a fresh
/// sled database at `options.path`, `chunk` rows per atomic batch, flushing
/// after each batch.
pub fn sync_floor(options: &StoreOptions, firms: &[Enterprise], chunk: usize, what: FloorKeys) -> Result<FloorRun> {
    let db = open_sled(options)?;
    let tree = db.open_tree("ladder")?;
    let run = SyncRun { id: format!("{:016x}floor", now_micros()), source: "floor".into(), ..Default::default() };
    let meta = WriteMeta {
        actor: "floor".into(),
        origin: run.source.clone(),
        reason: format!("syncRuns/{}", run.id),
        ..Default::default()
    };
    let started = Instant::now();
    let (mut revision, mut written) = (1u64, 0usize);
    for rows in firms.chunks(chunk.max(1)) {
        let mut batch = sled::Batch::default();
        for firm in rows {
            let mut e = firm.clone();
            (e.revision, e.log_head) = (revision, revision);
            if what == FloorKeys::Same {
                e.synced_by = vec![run.source.clone()];
                let field_changes = Enterprise::diff(&Enterprise::default(), &e);
                let mut change = records::change(e.resource_name(), ChangeKind::Created, field_changes, &meta);
                (change.revision, change.time) = (revision, now_micros());
                batch.insert(keys::log(revision), codec::encode(&change));
                written += 1;
            }
            batch.insert(keys::enterprise(&e.credit_code), codec::encode(&e));
            written += 1;
            revision += 1;
        }
        if what == FloorKeys::Same {
            batch.insert(run_key(&run.id), codec::encode(&run));
            batch.insert(keys::META_REVISION, revision.to_be_bytes().to_vec());
            written += 2;
        }
        crate::store::apply_batch(&tree, batch)?;
        crate::store::flush(&db)?;
        reclaim();
    }
    Ok(FloorRun { rows: firms.len(), keys: written, elapsed: started.elapsed() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_writes_the_records_and_their_log() {
        let dir = tempfile::tempdir().unwrap();
        let firms: Vec<Enterprise> = ["91610116MA0000001X", "91610116MA00000038"]
            .iter()
            .map(|code| Enterprise {
                credit_code: code.to_string(),
                display_name: format!("西安{code}"),
                industry_code: "C3841".into(),
                region_code: "610116".into(),
                promotion_zone: "east".into(),
                ..Default::default()
            })
            .collect();
        let options = StoreOptions::new(dir.path().join("same"));
        let run = sync_floor(&options, &firms, 1, FloorKeys::Same).unwrap();
        assert_eq!(run.rows, 2);
        let db = open_sled(&options).unwrap();
        let tree = db.open_tree("ladder").unwrap();
        for e in &firms {
            assert!(tree.get(keys::enterprise(&e.credit_code)).unwrap().is_some());
        }
        assert!(tree.get(keys::log(2)).unwrap().is_some());
        drop(db);

        let options = StoreOptions::new(dir.path().join("record"));
        let only = sync_floor(&options, &firms, 10, FloorKeys::RecordOnly).unwrap();
        assert_eq!(only.keys, 2);
        assert_eq!(run.keys, 2 * 2 + 2 * 2, "a row writes its record and log entry; a chunk its run and revision");
    }
}
