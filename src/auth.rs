//! Access control: bearer tokens with roles, checked by an interceptor on
//! every ladder service (health and reflection stay open).
//!
//! Tokens are random strings shown once when minted (`ladder token mint`);
//! the configuration keeps only their SHA-256. With no tokens configured the
//! server treats callers as the local admin, and refuses to listen on a
//! non-loopback address unless explicitly allowed.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use crate::error::Error;

/// What a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Read, and bulk writes through the sync service.
    Sync,
    /// Read and write records.
    Editor,
    /// Everything, including overrides.
    Admin,
}

/// An action that needs a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Reads.
    Read,
    /// Single-record writes.
    Write,
    /// Bulk sync writes.
    Sync,
    /// Undoing a bulk sync run: its source's scripts (sync) or staff (editor).
    Revert,
    /// Overrides and administration.
    Admin,
}

impl Role {
    /// Whether the role grants the permission.
    pub fn allows(self, need: Permission) -> bool {
        match need {
            Permission::Read => true,
            Permission::Write => matches!(self, Role::Editor | Role::Admin),
            Permission::Sync => matches!(self, Role::Sync | Role::Admin),
            Permission::Revert => matches!(self, Role::Sync | Role::Editor | Role::Admin),
            Permission::Admin => self == Role::Admin,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Sync => "sync",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// Parses a lower-case role name.
    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Sync, Role::Editor, Role::Admin].into_iter().find(|r| r.name() == s)
    }
}

/// A configured token: who holds it, their role and the token's SHA-256.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Holder's name; recorded as the actor of their changes.
    pub name: String,
    /// What the holder may do.
    pub role: Role,
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
}

impl TokenEntry {
    /// Checks the entry's shape.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.name.is_empty() && self.name.chars().count() <= 100 && !self.name.chars().any(char::is_control),
            "token name {:?} must be 1–100 printable characters",
            self.name
        );
        anyhow::ensure!(
            self.sha256.len() == 64 && self.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "token {:?}: sha256 must be 64 lower-case hex digits",
            self.name
        );
        Ok(())
    }
}

/// The authenticated caller, put into each request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Name recorded as the actor of changes.
    pub name: String,
    /// The caller's role.
    pub role: Role,
}

/// Actor name of callers when no tokens are configured.
pub const LOCAL_ADMIN: &str = "local-admin";

/// Lower-case hex SHA-256 of a token.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random token (`ldr_` and 64 hex digits, 256 bits).
pub fn mint_token() -> String {
    format!("ldr_{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The interceptor that authenticates every call of a ladder service.
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: std::sync::Arc<Vec<TokenEntry>>,
}

impl Authenticator {
    /// Checks calls against these tokens (none: everyone is the local admin).
    pub fn new(tokens: Vec<TokenEntry>) -> Self {
        Self { tokens: std::sync::Arc::new(tokens) }
    }

    /// Whether the server checks no tokens (every caller is the local admin).
    pub fn open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The caller an `authorization` header names (any caller when there are
    /// no tokens), as the interceptor decides it.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Caller, Error> {
        if self.tokens.is_empty() {
            return Ok(Caller { name: LOCAL_ADMIN.into(), role: Role::Admin });
        }
        let Some(header) = header else {
            return Err(Error::Unauthenticated {
                reason: "MISSING_TOKEN",
                message:
                    "this server requires a token: send `authorization: Bearer <token>` (CLI: --token or LADDER_TOKEN)"
                        .into(),
            });
        };
        let token =
            header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim).ok_or_else(
                || Error::Unauthenticated {
                    reason: "MALFORMED_AUTHORIZATION",
                    message: "the authorization header must be `Bearer <token>`".into(),
                },
            )?;
        let hash = hash_token(token);
        // Compare every entry fully so timing does not reveal a prefix match.
        let found = self.tokens.iter().fold(None, |found, entry| {
            let equal = entry.sha256.bytes().zip(hash.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
            if equal {
                Some(entry)
            } else {
                found
            }
        });
        found.map(|entry| Caller { name: entry.name.clone(), role: entry.role }).ok_or_else(|| Error::Unauthenticated {
            reason: "INVALID_TOKEN",
            message: "the token is not valid on this server".into(),
        })
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
        let caller = self.authenticate(header)?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The caller of a request, if it holds the permission.
pub fn require<T>(request: &Request<T>, need: Permission) -> Result<Caller, Error> {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Error::Internal("request reached a handler without authentication".into()))?;
    permit(&caller, need)?;
    Ok(caller)
}

/// Refuses a caller whose role does not grant `need`.
pub fn permit(caller: &Caller, need: Permission) -> Result<(), Error> {
    if caller.role.allows(need) {
        Ok(())
    } else {
        Err(Error::PermissionDenied {
            reason: "ROLE_NOT_ALLOWED",
            message: format!("{} has role {}, which may not {}", caller.name, caller.role.name(), describe(need)),
        })
    }
}

fn describe(need: Permission) -> &'static str {
    match need {
        Permission::Read => "read",
        Permission::Write => "write records (needs editor or admin)",
        Permission::Sync => "run bulk syncs (needs sync or admin)",
        Permission::Revert => "revert sync runs (needs sync, editor or admin)",
        Permission::Admin => "do this (needs admin)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Authenticator {
        Authenticator::new(vec![TokenEntry {
            name: "wang".into(),
            role: Role::Editor,
            sha256: hash_token("secret-token"),
        }])
    }

    #[test]
    fn roles_grant_what_they_should() {
        assert!(Role::Viewer.allows(Permission::Read) && !Role::Viewer.allows(Permission::Write));
        assert!(Role::Editor.allows(Permission::Write) && !Role::Editor.allows(Permission::Admin));
        assert!(Role::Sync.allows(Permission::Sync) && !Role::Sync.allows(Permission::Write));
        assert!(Role::Admin.allows(Permission::Admin) && Role::Admin.allows(Permission::Sync));
        // A bad run is undone by its scripts or by staff, never by a viewer.
        assert!(Role::Sync.allows(Permission::Revert) && Role::Editor.allows(Permission::Revert));
        assert!(Role::Admin.allows(Permission::Revert) && !Role::Viewer.allows(Permission::Revert));
        assert!(!Role::Editor.allows(Permission::Sync), "editors revert runs but do not run syncs");
    }

    #[test]
    fn tokens_authenticate_by_hash() {
        let caller = auth().authenticate(Some("Bearer secret-token")).unwrap();
        assert_eq!(caller, Caller { name: "wang".into(), role: Role::Editor });
        assert_eq!(auth().authenticate(None).unwrap_err().reason(), "MISSING_TOKEN");
        assert_eq!(auth().authenticate(Some("Bearer wrong")).unwrap_err().reason(), "INVALID_TOKEN");
        assert_eq!(auth().authenticate(Some("secret-token")).unwrap_err().reason(), "MALFORMED_AUTHORIZATION");
    }

    #[test]
    fn no_tokens_means_local_admin() {
        let caller = Authenticator::new(vec![]).authenticate(None).unwrap();
        assert_eq!(caller.role, Role::Admin);
    }

    #[test]
    fn minted_tokens_are_unique_and_hash_to_64_hex() {
        let (a, b) = (mint_token(), mint_token());
        assert_ne!(a, b);
        assert!(a.starts_with("ldr_") && a.len() == 68);
        assert_eq!(hash_token(&a).len(), 64);
    }
}
