//! Point-in-time backups of a running store, the backup file, restoring a
//! store from it, and the offline check of the change log.
//!
//! **How a backup stays consistent while writes go on.** A backup starts at
//! a group boundary (it takes the index's write lock, which the committer
//! holds while it applies a group) and notes the revision the store holds.
//! From then on, the committer saves the value every key had *before* a
//! group overwrites or removes it (its "before image"; `None` for a key that
//! did not exist). The backup walks the tree and sends each key's current
//! value unless the key has a before image; at the end it sends the before
//! images that held a value. A key's before image is saved before the group
//! that changes it is applied, so whenever the walk sees a changed value the
//! image is already there. The result is the store exactly as it was at the
//! noted revision, and writers wait only for the moment the backup starts.
//! Only keys ahead of the walk need an image (the walk already holds the
//! others' values), so each key is sent once; the images are capped at
//! [`MAX_IMAGE_BYTES`], past which the backup ends with
//! RESOURCE_EXHAUSTED `BACKUP_TOO_SLOW`.

use std::collections::HashMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::{keys, writer, Store, StoreOptions};

/// Most bytes of before images a backup keeps; writes that outpace the
/// backup past this end it (RESOURCE_EXHAUSTED `BACKUP_TOO_SLOW`) instead
/// of growing the server's memory.
pub const MAX_IMAGE_BYTES: usize = 256 * 1024 * 1024;

/// What the committer keeps for a running backup.
#[derive(Default)]
pub(crate) struct Recording {
    /// Before images of the keys written since the backup began, ahead of
    /// the walk.
    images: HashMap<Vec<u8>, Option<crate::store::kv::Bytes>>,
    /// The last key the walk has read: keys at or before it need no image
    /// (the walk already has their value as of the start, or never will
    /// see them).
    cursor: Option<Vec<u8>>,
    /// Approximate bytes held in `images`.
    bytes: usize,
    /// Most bytes of images kept ([`MAX_IMAGE_BYTES`]).
    cap: usize,
    /// The images outgrew [`MAX_IMAGE_BYTES`]: the backup is abandoned.
    overflowed: bool,
}

/// The recording of a backup in progress.
pub(crate) type Images = Arc<Mutex<Recording>>;

/// The backup in progress, if any (at most one at a time).
pub(crate) type Snapshot = Arc<Mutex<Option<Images>>>;

/// Called by the committer, under the index's write lock, before it applies
/// a group: saves the current value of each key the group writes that lies
/// ahead of the walk and has no before image yet.
pub(crate) fn save_before_images<'a>(
    snapshot: &Snapshot,
    tree: &sled::Tree,
    keys: impl Iterator<Item = &'a Vec<u8>>,
) -> Result<()> {
    let Some(images) = snapshot.lock().ok().and_then(|s| s.clone()) else { return Ok(()) };
    let mut r = images.lock().map_err(|_| Error::Internal("backup images poisoned".into()))?;
    if r.overflowed {
        return Ok(());
    }
    for key in keys {
        if r.cursor.as_deref().is_some_and(|c| key.as_slice() <= c) || r.images.contains_key(key) {
            continue;
        }
        let value = tree.get(key)?.map(crate::store::kv::Bytes::Sled);
        r.bytes += key.len() + value.as_ref().map_or(0, |v| v.len()) + 64;
        r.images.insert(key.clone(), value);
        if r.bytes > r.cap {
            r.overflowed = true;
            r.images = HashMap::new();
            break;
        }
    }
    Ok(())
}

/// A backup being read: [`Backup::next_batch`] until it returns nothing.
/// Dropping it (a client gone) ends the backup.
pub struct Backup {
    store: Store,
    images: Images,
    revision: u64,
    walk: Option<crate::store::kv::Iter>,
    tail: Option<std::vec::IntoIter<(Vec<u8>, crate::store::kv::Bytes)>>,
    digest: Digester,
}

impl Store {
    /// Starts a point-in-time backup at the current revision. Only one runs
    /// at a time: FAILED_PRECONDITION `BACKUP_IN_PROGRESS` otherwise.
    pub fn backup(&self) -> Result<Backup> {
        self.backup_keeping(MAX_IMAGE_BYTES)
    }

    /// [`Store::backup`] keeping at most `cap` bytes of before images.
    pub(crate) fn backup_keeping(&self, cap: usize) -> Result<Backup> {
        // The index's write lock is held by the committer while it applies
        // a group: holding it here puts the start between two groups.
        let index = self.index_for_writes()?;
        let mut snapshot = self.inner.snapshot.lock().map_err(|_| Error::Internal("snapshot lock poisoned".into()))?;
        if snapshot.is_some() {
            return Err(Error::FailedPrecondition {
                reason: "BACKUP_IN_PROGRESS",
                message: "a backup is already running; wait for it to finish".into(),
            });
        }
        // On PostgreSQL the walk reads one REPEATABLE READ snapshot, which
        // is the store at one commit by itself: no before images are kept.
        let walked = match self.tree() {
            crate::store::kv::Kv::Pg(pg) => crate::store::kv::Kv::Pg(pg.pg().snapshot()?.0),
            sled => sled.clone(),
        };
        let revision = writer::read_u64(&walked, keys::META_REVISION)?.max(1) - 1;
        let images: Images = Arc::new(Mutex::new(Recording { cap, ..Default::default() }));
        *snapshot = Some(Arc::clone(&images));
        let walk = walked.iter();
        drop(snapshot);
        drop(index);
        Ok(Backup { store: self.clone(), images, revision, walk: Some(walk), tail: None, digest: Digester::default() })
    }
}

impl Backup {
    /// The revision the backup holds: every change up to it, none after.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The next entries, up to about `max_bytes`; empty when the backup is
    /// complete.
    pub fn next_batch(&mut self, max_bytes: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut size = 0usize;
        while size < max_bytes {
            let Some((key, value)) = self.next_entry()? else { break };
            size += key.len() + value.len() + 8;
            self.digest.add(&key, &value);
            out.push((key, value));
        }
        Ok(out)
    }

    /// Entries sent so far and the SHA-256 over them (hex), as the backup
    /// file records them.
    pub fn digest(&self) -> (u64, String) {
        (self.digest.entries, self.digest.hex())
    }

    fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if let Some(walk) = &mut self.walk {
            for entry in walk.by_ref() {
                let (key, value) = entry?;
                let mut r = self.images.lock().map_err(|_| Error::Internal("backup images poisoned".into()))?;
                if r.overflowed {
                    return Err(too_slow());
                }
                // From now on a write of this key needs no image.
                r.cursor = Some(key.to_vec());
                if !r.images.contains_key(key.as_ref()) {
                    return Ok(Some((key.to_vec(), value.to_vec())));
                }
            }
            // The walk is done: stop recording, then send the values the
            // changed keys had at the start (removed keys included; keys
            // created since had none).
            self.walk = None;
            self.stop();
            let mut r = self.images.lock().map_err(|_| Error::Internal("backup images poisoned".into()))?;
            if r.overflowed {
                return Err(too_slow());
            }
            let images = std::mem::take(&mut r.images);
            drop(r);
            let mut kept: Vec<(Vec<u8>, crate::store::kv::Bytes)> =
                images.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
            kept.sort_by(|a, b| a.0.cmp(&b.0));
            self.tail = Some(kept.into_iter());
        }
        Ok(self.tail.as_mut().and_then(Iterator::next).map(|(k, v)| (k, v.to_vec())))
    }

    fn stop(&self) {
        if let Ok(mut snapshot) = self.store.inner.snapshot.lock() {
            if snapshot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.images)) {
                *snapshot = None;
            }
        }
    }
}

impl Drop for Backup {
    fn drop(&mut self) {
        self.stop();
    }
}

fn too_slow() -> Error {
    Error::ResourceExhausted {
        reason: "BACKUP_TOO_SLOW",
        message: format!(
            "writes outpaced the backup: it would have kept more than {} MiB of earlier values; \
             retry when the store is quieter, or read the backup faster",
            MAX_IMAGE_BYTES / (1024 * 1024)
        ),
    }
}

/// SHA-256 over the entries in order, each as its key and value with their
/// lengths (u32, big-endian) before them.
#[derive(Default)]
pub(crate) struct Digester {
    hash: Sha256,
    pub(crate) entries: u64,
}

impl Digester {
    pub(crate) fn add(&mut self, key: &[u8], value: &[u8]) {
        for part in [key, value] {
            self.hash.update(u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
            self.hash.update(part);
        }
        self.entries += 1;
    }

    pub(crate) fn hex(&self) -> String {
        self.hash.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The start of a backup file.
const MAGIC: &[u8; 8] = b"LDRBKUP1";
/// The length that marks the end of the entries.
const END: u32 = u32::MAX;
/// The name of the backup file in a backup folder.
pub const BACKUP_FILE: &str = "ladder.backup";

/// What a backup file says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHeader {
    /// The revision it holds.
    pub revision: u64,
    /// When it was taken, microseconds since the epoch.
    pub taken_micros: i64,
}

/// Writes a backup file: the header, then entries, then [`BackupWriter::finish`].
pub struct BackupWriter {
    out: BufWriter<std::fs::File>,
    digest: Digester,
}

impl BackupWriter {
    /// Creates `path` (refusing to overwrite) and writes the header.
    pub fn create(path: &Path, header: &BackupHeader) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", path.display())))?;
        let mut out = BufWriter::new(file);
        let io = |e: std::io::Error| Error::Unavailable(format!("cannot write {}: {e}", path.display()));
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&header.revision.to_be_bytes()).map_err(io)?;
        out.write_all(&header.taken_micros.to_be_bytes()).map_err(io)?;
        Ok(Self { out, digest: Digester::default() })
    }

    /// Appends one entry.
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        for part in [key, value] {
            let len = u32::try_from(part.len()).ok().filter(|l| *l != END).ok_or_else(|| {
                Error::Internal(format!("an entry of {} bytes is too large for a backup file", part.len()))
            })?;
            self.out.write_all(&len.to_be_bytes()).map_err(write_error)?;
            self.out.write_all(part).map_err(write_error)?;
        }
        self.digest.add(key, value);
        Ok(())
    }

    /// Entries written and their digest so far.
    pub fn digest(&self) -> (u64, String) {
        (self.digest.entries, self.digest.hex())
    }

    /// Ends the file with the entry count and digest, and syncs it to disk.
    pub fn finish(mut self) -> Result<(u64, String)> {
        let (entries, hex) = self.digest();
        self.out.write_all(&END.to_be_bytes()).map_err(write_error)?;
        self.out.write_all(&entries.to_be_bytes()).map_err(write_error)?;
        self.out.write_all(hex.as_bytes()).map_err(write_error)?;
        let file = self.out.into_inner().map_err(|e| write_error(e.into_error()))?;
        file.sync_all().map_err(write_error)?;
        Ok((entries, hex))
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::Unavailable(format!("cannot write the backup file: {e}"))
}

/// Reads a backup file entry by entry; the count and digest are checked
/// when the end is reached.
pub struct BackupReader {
    input: BufReader<std::fs::File>,
    header: BackupHeader,
    digest: Digester,
    done: bool,
}

impl BackupReader {
    /// Opens a backup file and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Unavailable(format!("cannot read {}: {e}", path.display())))?;
        let mut input = BufReader::new(file);
        let mut magic = [0u8; 8];
        read_exact(&mut input, &mut magic)?;
        if &magic != MAGIC {
            return Err(damaged(format!("{} is not a ladder backup file", path.display())));
        }
        let revision = u64::from_be_bytes(read_array(&mut input)?);
        let taken_micros = i64::from_be_bytes(read_array(&mut input)?);
        Ok(Self { input, header: BackupHeader { revision, taken_micros }, digest: Digester::default(), done: false })
    }

    /// The header.
    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// The next entry, or `None` at the end (after checking the count and
    /// the digest: a cut or altered file is refused).
    pub fn next_entry(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if self.done {
            return Ok(None);
        }
        let key_len = u32::from_be_bytes(read_array(&mut self.input)?);
        if key_len == END {
            let entries = u64::from_be_bytes(read_array(&mut self.input)?);
            let mut hex = [0u8; 64];
            read_exact(&mut self.input, &mut hex)?;
            if entries != self.digest.entries || hex.as_slice() != self.digest.hex().as_bytes() {
                return Err(damaged(format!(
                    "the backup file is damaged: it says {entries} entries with digest {}, but holds {} with {}",
                    String::from_utf8_lossy(&hex),
                    self.digest.entries,
                    self.digest.hex()
                )));
            }
            self.done = true;
            return Ok(None);
        }
        let key = read_vec(&mut self.input, key_len)?;
        let value_len = u32::from_be_bytes(read_array(&mut self.input)?);
        let value = read_vec(&mut self.input, value_len)?;
        self.digest.add(&key, &value);
        Ok(Some((key, value)))
    }
}

fn damaged(message: String) -> Error {
    Error::FailedPrecondition { reason: "BACKUP_DAMAGED", message }
}

fn read_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<()> {
    input.read_exact(buf).map_err(|e| damaged(format!("the backup file ends early or cannot be read: {e}")))
}

fn read_array<const N: usize>(input: &mut impl Read) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    read_exact(input, &mut buf)?;
    Ok(buf)
}

fn read_vec(input: &mut impl Read, len: u32) -> Result<Vec<u8>> {
    // Read through `take` so a corrupt length cannot reserve gigabytes.
    let mut buf = Vec::new();
    input
        .take(u64::from(len))
        .read_to_end(&mut buf)
        .map_err(|e| damaged(format!("the backup file cannot be read: {e}")))?;
    if buf.len() != len as usize {
        return Err(damaged("the backup file ends in the middle of an entry".into()));
    }
    Ok(buf)
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The revision the new store holds.
    pub revision: u64,
    /// Entries written.
    pub entries: u64,
    /// What the consistency check found (empty: none).
    pub problems: Vec<String>,
}

/// Builds a new store at `options.path` from a backup file, then opens it
/// (rebuilding the index) and checks it. The folder must not exist or be
/// empty; a damaged file leaves nothing behind.
pub fn restore(file: &Path, options: &StoreOptions) -> Result<Restored> {
    let target = &options.path;
    if target.exists() && std::fs::read_dir(target).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Error::FailedPrecondition {
            reason: "TARGET_NOT_EMPTY",
            message: format!("{} exists and is not empty: restore into a new folder", target.display()),
        });
    }
    let existed = target.exists();
    // A failed restore leaves the target as it found it: absent, or empty.
    let clean_up = || {
        let _ = std::fs::remove_dir_all(target);
        if existed {
            let _ = std::fs::create_dir_all(target);
        }
    };
    let mut reader = BackupReader::open(file)?;
    let revision = reader.header().revision;
    let written = (|| -> Result<u64> {
        let db = super::open_sled(options)?;
        let tree = db.open_tree("ladder")?;
        let mut batch = sled::Batch::default();
        let (mut entries, mut in_batch) = (0u64, 0usize);
        while let Some((key, value)) = reader.next_entry()? {
            batch.insert(key, value);
            entries += 1;
            in_batch += 1;
            if in_batch == 10_000 {
                super::apply_batch(&tree, std::mem::take(&mut batch))?;
                in_batch = 0;
            }
        }
        super::apply_batch(&tree, batch)?;
        super::flush(&db)?;
        Ok(entries)
    })();
    let entries = match written {
        Ok(n) => n,
        Err(e) => {
            clean_up();
            return Err(e);
        }
    };
    let store = match Store::open(options) {
        Ok(s) => s,
        Err(e) => {
            clean_up();
            return Err(e);
        }
    };
    let checked = super::check_consistency(&store).and_then(|mut problems| {
        problems.extend(check_log(&store)?);
        Ok(problems)
    });
    store.close();
    // A store that opens but fails its check is kept for inspection; the
    // problems are reported.
    Ok(Restored { revision, entries, problems: checked? })
}

/// Checks the change log: gap-free revisions from the oldest retained to
/// the head, each entry readable.
pub fn check_log(store: &Store) -> Result<Vec<String>> {
    let tree = store.tree();
    let head = store.next_revision()?.saturating_sub(1);
    let oldest = store.oldest_retained()?;
    let mut problems = Vec::new();
    let mut expected = oldest;
    for entry in tree.scan_prefix([keys::LOG]) {
        let (key, value) = entry?;
        let Some(revision) = <[u8; 8]>::try_from(&key[1..]).ok().map(u64::from_be_bytes) else {
            problems.push(format!("change-log key {key:?} is not a revision"));
            continue;
        };
        if revision != expected {
            problems.push(format!("the change log jumps from revision {} to {revision}", expected.saturating_sub(1)));
        }
        if let Err(e) = crate::store::codec::decode::<crate::domain::change::Change>(&value) {
            problems.push(format!("change-log entry {revision} cannot be read: {e}"));
        }
        expected = revision + 1;
    }
    if head > 0 && expected != head + 1 {
        problems.push(format!("the change log ends at revision {} but the store's head is {head}", expected - 1));
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(store: &Store) -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        let mut backup = store.backup().unwrap();
        let mut all = std::collections::BTreeMap::new();
        loop {
            let batch = backup.next_batch(1024).unwrap();
            if batch.is_empty() {
                break;
            }
            all.extend(batch);
        }
        all
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_backup_sees_the_store_as_it_was_when_it_began() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::new(dir.path())).unwrap();
        let put = |key: &'static [u8], value: Option<&'static [u8]>| {
            let store = store.clone();
            async move {
                store
                    .write(false, move |txn| {
                        match value {
                            Some(v) => txn.put(key.to_vec(), v.to_vec()),
                            None => txn.remove(key.to_vec()),
                        }
                        Ok(())
                    })
                    .await
                    .unwrap()
            }
        };
        for key in [&b"xa"[..], b"xb", b"xc", b"xd"] {
            put(key, Some(b"old")).await;
        }
        let before = entries(&store);
        let mut backup = store.backup().unwrap();
        // Only one at a time.
        assert_eq!(store.backup().err().unwrap().reason(), "BACKUP_IN_PROGRESS");
        // Walk up to and including `xa`, then change keys on both sides of
        // the walk.
        let mut sent: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        while !sent.iter().any(|(k, _)| k.as_slice() == b"xa") {
            sent.extend(backup.next_batch(1).unwrap());
        }
        put(b"xa", Some(b"new")).await;
        put(b"xc", Some(b"new")).await;
        put(b"xd", None).await;
        put(b"xe", Some(b"created")).await;
        loop {
            let batch = backup.next_batch(1).unwrap();
            if batch.is_empty() {
                break;
            }
            sent.extend(batch);
        }
        // Each key once, and exactly the store at the start: old values on
        // both sides of the walk, the removed key kept, the created one absent.
        let got: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = sent.iter().cloned().collect();
        assert_eq!(sent.len(), got.len(), "no key is sent twice");
        assert_eq!(got, before);
        assert_eq!(got.get(&b"xa"[..]).map(Vec::as_slice), Some(&b"old"[..]));
        assert_eq!(got.get(&b"xc"[..]).map(Vec::as_slice), Some(&b"old"[..]));
        assert!(got.contains_key(&b"xd"[..]) && !got.contains_key(&b"xe"[..]));
        drop(backup);
        // Finished (or dropped), it makes room for the next, which sees the changes.
        let after = entries(&store);
        assert_eq!(after.get(&b"xc"[..]).map(Vec::as_slice), Some(&b"new"[..]));
        assert!(!after.contains_key(&b"xd"[..]) && after.contains_key(&b"xe"[..]));
        store.close();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_that_outpace_a_backup_end_it_instead_of_growing_memory() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreOptions::new(dir.path())).unwrap();
        let mut backup = store.backup_keeping(1_000).unwrap();
        // Keys ahead of the walk, more than the cap in images.
        for n in 0..40u32 {
            store
                .write(false, move |txn| {
                    txn.put(format!("z{n:04}").into_bytes(), vec![7u8; 64]);
                    Ok(())
                })
                .await
                .unwrap();
        }
        let err = loop {
            match backup.next_batch(1024) {
                Ok(batch) if batch.is_empty() => panic!("the backup finished past its cap"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.reason(), "BACKUP_TOO_SLOW");
        drop(backup);
        // The slot is free again.
        assert!(store.backup().is_ok());
        store.close();
    }

    #[test]
    fn the_backup_file_round_trips_and_refuses_a_cut_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let header = BackupHeader { revision: 42, taken_micros: 7 };
        let mut w = BackupWriter::create(&path, &header).unwrap();
        w.append(b"k1", b"v1").unwrap();
        w.append(b"k2", &[0u8; 3000]).unwrap();
        let (n, digest) = w.finish().unwrap();
        assert_eq!(n, 2);
        assert!(BackupWriter::create(&path, &header).is_err(), "never overwrites");
        let mut r = BackupReader::open(&path).unwrap();
        assert_eq!(r.header(), &header);
        assert_eq!(r.next_entry().unwrap().unwrap(), (b"k1".to_vec(), b"v1".to_vec()));
        assert_eq!(r.next_entry().unwrap().unwrap().1.len(), 3000);
        assert!(r.next_entry().unwrap().is_none());
        assert_eq!(digest.len(), 64);
        // Cut short: refused as damaged, not read as a smaller store.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 40]).unwrap();
        let mut r = BackupReader::open(&path).unwrap();
        let err = loop {
            match r.next_entry() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("a cut file read to the end"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.reason(), "BACKUP_DAMAGED");
    }
}
