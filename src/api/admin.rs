//! `ladder.v1.AdminService`: point-in-time backups of the running store.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::auth::{require, Permission};
use crate::pb::v1;
use crate::store::{Store, LAYOUT_VERSION};

/// Largest (and default) entries message of a backup stream.
pub const MAX_CHUNK_BYTES: usize = 1024 * 1024;
/// Smallest entries message a caller may ask for.
pub const MIN_CHUNK_BYTES: usize = 64 * 1024;
/// Messages read ahead of a slow client.
const AHEAD: usize = 4;
/// A client that takes no message for this long ends its backup (it holds
/// the only backup slot, and the server keeps before images while it runs).
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The admin service.
#[derive(Clone)]
pub struct AdminApi {
    store: Store,
    /// Largest message the server sends.
    max_message_bytes: usize,
}

impl AdminApi {
    /// A service over `store` whose messages stay within `max_message_bytes`.
    pub fn new(store: Store, max_message_bytes: usize) -> Self {
        Self { store, max_message_bytes }
    }
}

type BackupStream = Pin<Box<dyn Stream<Item = Result<v1::BackupChunk, Status>> + Send>>;

#[tonic::async_trait]
impl v1::admin_service_server::AdminService for AdminApi {
    type BackupStream = BackupStream;

    async fn backup(&self, request: Request<v1::BackupRequest>) -> Result<Response<BackupStream>, Status> {
        require(&request, Permission::Admin)?;
        // Chunks stay well inside the message limit (an entry larger than a
        // chunk goes alone; entries arrived through the same limit).
        let ceiling = MAX_CHUNK_BYTES.min(self.max_message_bytes / 2).max(4096);
        let chunk_bytes = match request.get_ref().chunk_bytes {
            0 => ceiling,
            n => usize::try_from(n).unwrap_or(0).clamp(MIN_CHUNK_BYTES.min(ceiling), ceiling),
        };
        let store = self.store.clone();
        let mut backup = crate::store::blocking(move || store.backup()).await?;
        let header = v1::BackupHeader {
            revision: backup.revision(),
            time: crate::api::convert::timestamp(crate::domain::time::now_micros()),
            layout: LAYOUT_VERSION,
        };
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<v1::BackupChunk, Status>>(AHEAD);
        // Read on a blocking thread; a client that goes away drops the
        // receiver, which ends the walk and the backup.
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let send = |part| {
                let message = Ok(v1::BackupChunk { part: Some(part) });
                match runtime.block_on(tokio::time::timeout(SEND_TIMEOUT, tx.send(message))) {
                    Ok(sent) => sent.is_ok(),
                    Err(_) => {
                        tracing::warn!("a backup client stopped reading; its backup is ended");
                        false
                    }
                }
            };
            if !send(v1::backup_chunk::Part::Header(header)) {
                return;
            }
            loop {
                match backup.next_batch(chunk_bytes) {
                    Ok(batch) if batch.is_empty() => break,
                    Ok(batch) => {
                        let (keys, values) = batch.into_iter().unzip();
                        if !send(v1::backup_chunk::Part::Entries(v1::BackupEntries { keys, values })) {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "backup failed");
                        let _ = runtime.block_on(tokio::time::timeout(SEND_TIMEOUT, tx.send(Err(Status::from(e)))));
                        return;
                    }
                }
            }
            let (entries, sha256) = backup.digest();
            tracing::info!(revision = backup.revision(), entries, "backup sent");
            send(v1::backup_chunk::Part::Trailer(v1::BackupTrailer { entries, sha256 }));
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }
}
