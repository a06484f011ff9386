//! `ladder.v1.ChangeService`: the audit trail.

use tonic::{Request, Response, Status};

use crate::api::{convert, page_size, page_token};
use crate::auth::{require, Permission};
use crate::domain::alliance::{alliance_name, check_alliance_id, membership_name, parse_alliance_name};
use crate::domain::enterprise::{parse_resource_name, resource_name};
use crate::error::Error;
use crate::pb::v1;
use crate::store::{ChangeQuery, Store};

/// Changes a watcher may have waiting to be sent.
pub const WATCH_BUFFER: usize = 1024;
/// Changes a watcher reads from the log at a time.
pub const WATCH_READ: usize = 500;
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
    for collection in ["postings/", "matches/"] {
        if name.starts_with(collection) {
            let id = crate::domain::supply_demand::parse_name("resource", &name, collection)?;
            return Ok(Some(format!("{collection}{id}")));
        }
    }
    Err(Error::invalid_field(
        "resource",
        "UNKNOWN_COLLECTION",
        format!(
            "{input:?} is not a resource name of this server (known: enterprises/{{code}}, enterprises/{{code}}/designations/{{id}}, enterprises/{{code}}/indicators/{{year}}, alliances/{{id}}, alliances/{{id}}/memberships/{{code}}, postings/{{id}}, matches/{{id}})"
        ),
    ))
}

/// Serves the change log.
#[derive(Clone)]
pub struct ChangeApi {
    store: Store,
}

impl ChangeApi {
    /// A service over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl v1::change_service_server::ChangeService for ChangeApi {
    type WatchChangesStream = tokio_stream::wrappers::ReceiverStream<Result<v1::Change, Status>>;

    async fn watch_changes(
        &self,
        request: Request<v1::WatchChangesRequest>,
    ) -> Result<Response<Self::WatchChangesStream>, Status> {
        require(&request, Permission::Read)?;
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
        let mut next = if r.start_revision == 0 { *head.borrow() + 1 } else { r.start_revision };
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
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(rx)))
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
        Ok(Response::new(v1::ListChangesResponse {
            changes: page.changes.into_iter().map(convert::change_to_pb).collect(),
            next_page_token: page
                .next_start
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
