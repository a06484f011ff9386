//! `ladder.v1.ChangeService`: the audit trail.

use tonic::{Request, Response, Status};

use crate::api::{convert, fitting, page_size, page_token};
use crate::auth::{require, Permission};
use crate::domain::alliance::{alliance_name, check_alliance_id, membership_name, parse_alliance_name};
use crate::domain::enterprise::{parse_resource_name, resource_name};
use crate::error::Error;
use crate::pb::v1;
use crate::store::{ChangeQuery, Store};

/// Changes a watcher may have waiting to be sent. With [`WATCH_READ`] this
/// bounds what a watcher holds, however far behind it starts: the next page
/// of the log is read only once the client has taken the previous one.
pub const WATCH_BUFFER: usize = 64;
/// Changes a watcher reads from the log at a time.
pub const WATCH_READ: usize = 64;
/// How long a watcher's buffer may stay full before it is let go.
pub const WATCH_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Default changes per page.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most changes per page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The resource a `ListChanges` asks about: empty for all, a resource name,
/// or a bare credit code for that enterprise.
fn parse_resource(input: &str) -> Result<Option<String>, Error> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    let name = if input.contains('/') { input.to_string() } else { format!("enterprises/{input}") };
    // Sub-resources of an enterprise: designations and annual indicators.
    for collection in ["/designations/", "/indicators/"] {
        if let Some((firm, id)) = name.strip_prefix("enterprises/").and_then(|rest| rest.split_once(collection)) {
            let code = parse_resource_name("resource", &format!("enterprises/{firm}"))?;
            return Ok(Some(format!("enterprises/{code}{collection}{}", id.trim())));
        }
    }
    if name.starts_with("enterprises/") {
        return Ok(Some(resource_name(&parse_resource_name("resource", &name)?)));
    }
    if let Some(rest) = name.strip_prefix("alliances/") {
        return Ok(Some(match rest.split_once("/memberships/") {
            Some((id, code)) => {
                check_alliance_id("resource", id)?;
                let code = parse_resource_name("resource", &format!("enterprises/{code}"))?;
                membership_name(id, &code)
            }
            None => alliance_name(&parse_alliance_name("resource", &name)?),
        }));
    }
    if name.starts_with("projects/") && name.contains("/investments/") {
        let (id, year) = crate::domain::project::parse_investment_name("resource", &name)?;
        return Ok(Some(crate::domain::project::investment_name(&id, year)));
    }
    for collection in ["postings/", "matches/", "projects/", "targets/"] {
        if name.starts_with(collection) {
            let id = crate::domain::supply_demand::parse_name("resource", &name, collection)?;
            return Ok(Some(format!("{collection}{id}")));
        }
    }
    Err(Error::invalid_field(
        "resource",
        "UNKNOWN_COLLECTION",
        format!(
            "{input:?} is not a resource name of this server (known: enterprises/{{code}}, enterprises/{{code}}/designations/{{id}}, enterprises/{{code}}/indicators/{{year}}, alliances/{{id}}, alliances/{{id}}/memberships/{{code}}, postings/{{id}}, matches/{{id}}, projects/{{id}}, projects/{{id}}/investments/{{year}}, targets/{{id}})"
        ),
    ))
}

/// Limits on open `WatchChanges` streams.
#[derive(Debug, Clone, Copy)]
pub struct WatcherLimits {
    /// Most open watchers in all.
    pub total: usize,
    /// Most open watchers of one caller (token name).
    pub per_caller: usize,
}

/// The open watchers, in all and per caller.
#[derive(Default)]
struct Watchers {
    total: usize,
    per_caller: std::collections::HashMap<String, usize>,
}

/// An open watcher's place in [`Watchers`], given back when its task ends.
struct WatcherSlot {
    watchers: std::sync::Arc<std::sync::Mutex<Watchers>>,
    caller: String,
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        crate::metrics::watchers(-1);
        let mut w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        w.total = w.total.saturating_sub(1);
        if let Some(n) = w.per_caller.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                w.per_caller.remove(&self.caller);
            }
        }
    }
}

/// A watcher's stream of changes; holds its slot until the client is done
/// with it (a stalled watcher's task ends, but its buffered changes and its
/// slot stay until the client reads them or goes away).
pub struct WatchStream {
    changes: tokio_stream::wrappers::ReceiverStream<Result<v1::Change, Status>>,
    _slot: WatcherSlot,
}

impl tokio_stream::Stream for WatchStream {
    type Item = Result<v1::Change, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.changes).poll_next(cx)
    }
}

/// Serves the change log.
#[derive(Clone)]
pub struct ChangeApi {
    store: Store,
    response_limit: usize,
    limits: WatcherLimits,
    watchers: std::sync::Arc<std::sync::Mutex<Watchers>>,
}

impl ChangeApi {
    /// A service over `store`, with at most `limits` watchers open.
    pub fn new(store: Store, limits: WatcherLimits) -> Self {
        let response_limit = crate::config::ServerConfig::default().max_message_bytes;
        Self { store, response_limit, limits, watchers: Default::default() }
    }

    /// Lists return pages of at most `bytes` (the server's message limit).
    pub fn with_response_limit(mut self, bytes: usize) -> Self {
        self.response_limit = bytes;
        self
    }

    /// Takes a watcher slot for `caller`, or RESOURCE_EXHAUSTED naming the limit.
    fn open_watcher(&self, caller: &str) -> Result<WatcherSlot, Error> {
        let mut w = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        let mine = w.per_caller.get(caller).copied().unwrap_or(0);
        let refused = if w.total >= self.limits.total {
            Some(("TOO_MANY_WATCHERS", format!("the server has its limit of {} open watchers", self.limits.total)))
        } else if mine >= self.limits.per_caller {
            Some((
                "TOO_MANY_WATCHERS_PER_CALLER",
                format!("{caller} already has {mine} open watchers, the limit per caller; close one first"),
            ))
        } else {
            None
        };
        if let Some((reason, message)) = refused {
            tracing::warn!(caller, open = w.total, reason, "watcher refused");
            return Err(Error::ResourceExhausted { reason, message });
        }
        w.total += 1;
        *w.per_caller.entry(caller.to_string()).or_insert(0) += 1;
        crate::metrics::watchers(1);
        Ok(WatcherSlot { watchers: std::sync::Arc::clone(&self.watchers), caller: caller.to_string() })
    }
}

#[tonic::async_trait]
impl v1::change_service_server::ChangeService for ChangeApi {
    type WatchChangesStream = WatchStream;

    async fn watch_changes(
        &self,
        request: Request<v1::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        let caller = require(&request, Permission::Read)?;
        let r = request.into_inner();
        let kinds = r
            .kinds
            .iter()
            .map(|k| {
                v1::ChangeKind::try_from(*k)
                    .ok()
                    .filter(|k| *k != v1::ChangeKind::Unspecified)
                    .map(|k| k as i32)
                    .ok_or_else(|| Error::invalid_field("kinds", "INVALID_KIND", format!("{k} is not a change kind")))
            })
            .collect::<Result<Vec<i32>, Error>>()?;
        let store = self.store.clone();
        let mut head = store.watch_head();
        let now = *head.borrow();
        // Waiting for a revision beyond the next one would wait for ever
        // (or until the log grows that far): a client error, not a watch.
        if r.start_revision > now.saturating_add(1) {
            return Err(Error::OutOfRange {
                reason: "REVISION_AFTER_HEAD",
                message: format!(
                    "start_revision {} is after the next revision {}; watch from {} (or 0 for new changes only)",
                    r.start_revision,
                    now + 1,
                    now + 1
                ),
                metadata: vec![("head_revision", now.to_string())],
            }
            .into());
        }
        let slot = self.open_watcher(&caller.name)?;
        let mut next = if r.start_revision == 0 { now + 1 } else { r.start_revision };
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_BUFFER);
        tokio::spawn(async move {
            // One slot is held back for the error that lets a slow watcher
            // go: it must reach the client even when the buffer is full.
            let Ok(spare) = tx.clone().reserve_owned().await else { return };
            loop {
                // Only durable changes: the head is published after the flush.
                let end = *head.borrow_and_update();
                let query = ChangeQuery { resource: None, start: next, end, page_size: WATCH_READ };
                let page = match store.list_changes(query).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                let caught_up = page.next_start.is_none();
                for change in page.changes {
                    next = change.revision + 1;
                    let wanted = change.resource.starts_with(&r.resource_prefix)
                        && (kinds.is_empty() || kinds.contains(&change.kind))
                        && (r.exclude_origin.is_empty() || change.origin != r.exclude_origin);
                    if !wanted {
                        continue;
                    }
                    // A watcher that cannot keep up is let go rather than
                    // buffering without bound; it resumes from `revision`.
                    let revision = change.revision;
                    match tokio::time::timeout(WATCH_STALL, tx.send(Ok(convert::change_to_pb(change)))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => return,
                        Err(_) => {
                            let behind = Error::ResourceExhausted {
                                reason: "WATCHER_TOO_SLOW",
                                message: format!("the watcher fell behind; resume with start_revision {revision}"),
                            };
                            spare.send(Err(behind.into()));
                            return;
                        }
                    }
                }
                if caught_up {
                    // Wait for the next durable write group (or the client to leave).
                    tokio::select! {
                        changed = head.changed() => if changed.is_err() { return },
                        () = tx.closed() => return,
                    }
                }
            }
        });
        Ok(Response::new(WatchStream { changes: tokio_stream::wrappers::ReceiverStream::new(rx), _slot: slot }))
    }

    async fn list_changes(
        &self,
        request: Request<v1::ListChangesRequest>,
    ) -> Result<Response<v1::ListChangesResponse>, Status> {
        require(&request, Permission::Read)?;
        let r = request.into_inner();
        let size = page_size(r.page_size, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
        let resource = parse_resource(&r.resource)?;
        if r.end_revision != 0 && r.end_revision < r.start_revision {
            return Err(Error::invalid_field(
                "end_revision",
                "INVALID_RANGE",
                format!("{} is before start_revision {}", r.end_revision, r.start_revision),
            )
            .into());
        }
        let digest = page_token::query_digest(&[
            "ListChanges",
            resource.as_deref().unwrap_or(""),
            &r.start_revision.to_string(),
            &r.end_revision.to_string(),
        ]);
        let key = self.store.token_key().to_vec();
        let start = match page_token::decode(&key, &digest, &r.page_token)? {
            Some(resume) => resume.position.as_slice().try_into().map(u64::from_be_bytes).map_err(|_| {
                Error::invalid_field("page_token", "INVALID_PAGE_TOKEN", "is not a page token of this server")
            })?,
            None => r.start_revision,
        };
        let page = self
            .store
            .list_changes(ChangeQuery {
                resource,
                start,
                end: if r.end_revision == 0 { u64::MAX } else { r.end_revision },
                page_size: size,
            })
            .await?;
        let mut changes: Vec<v1::Change> = page.changes.into_iter().map(convert::change_to_pb).collect();
        // Changes carrying long values may not fit one message at the
        // largest page size: shorten the page and resume at the first left out.
        let fit = fitting(&changes, self.response_limit);
        let next_start = if fit < changes.len() {
            tracing::debug!(size, fit, "ListChanges page shortened to fit the message limit");
            let next = changes[fit].revision;
            changes.truncate(fit);
            Some(next)
        } else {
            page.next_start
        };
        Ok(Response::new(v1::ListChangesResponse {
            changes,
            next_page_token: next_start
                .map(|next| page_token::encode(&key, &digest, next.to_be_bytes().to_vec(), None))
                .unwrap_or_default(),
            head_revision: page.head,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_names_or_bare_codes_and_typos_are_refused() {
        assert_eq!(parse_resource("").unwrap(), None);
        let name = Some("enterprises/91350100M000100Y43".to_string());
        assert_eq!(parse_resource("91350100m000100y43").unwrap(), name);
        assert_eq!(parse_resource(" enterprises/91350100M000100Y43 ").unwrap(), name);
        assert_eq!(parse_resource("enterprise/91350100M000100Y43").unwrap_err().reason(), "UNKNOWN_COLLECTION");
        assert_eq!(parse_resource("enterprises/123").unwrap_err().reason(), "WRONG_LENGTH");
        assert_eq!(parse_resource("alliances/drones").unwrap(), Some("alliances/drones".to_string()));
        assert_eq!(
            parse_resource("alliances/drones/memberships/91350100m000100y43").unwrap(),
            Some("alliances/drones/memberships/91350100M000100Y43".to_string())
        );
        assert_eq!(parse_resource("alliances/Drones").unwrap_err().reason(), "INVALID_ALLIANCE_ID");
    }
}
