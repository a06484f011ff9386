//! Staff client commands: each builds one request, calls the server and shows
//! the answer (a table, a label list or JSON) or one clear error line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::api::ORIGIN_HEADER;
use crate::cli::{render, ClientArgs};
use crate::pb::v1;
use crate::pb::v1::change_service_client::ChangeServiceClient;
use crate::pb::v1::enterprise_service_client::EnterpriseServiceClient;

/// `ladder enterprise …`
#[derive(Debug, Subcommand)]
pub enum EnterpriseCommand {
    /// Register an enterprise.
    Create {
        /// Unified Social Credit Code (统一社会信用代码).
        credit_code: String,
        #[command(flatten)]
        fields: Fields,
        /// Register a code that fails its check characters, after verifying
        /// it on the national registry (admin only): why it is accepted.
        #[arg(long)]
        override_reason: Option<String>,
        /// Check everything, write nothing.
        #[arg(long)]
        validate_only: bool,
        /// Idempotency key: a retry with the same key is not applied twice.
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show one enterprise.
    Get {
        /// Credit code or `enterprises/{code}`.
        credit_code: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Change the given fields (others stay as they are).
    Update {
        /// Credit code or `enterprises/{code}`.
        credit_code: String,
        #[command(flatten)]
        fields: Fields,
        /// Clear a field (repeatable), e.g. --clear website.
        #[arg(long, value_name = "FIELD")]
        clear: Vec<String>,
        /// Only update if the record is unchanged since this etag was read.
        #[arg(long)]
        etag: Option<String>,
        /// Check everything, write nothing.
        #[arg(long)]
        validate_only: bool,
        /// Idempotency key.
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Retire (soft-delete) an enterprise; it can be restored with undelete.
    Delete {
        /// Credit code or `enterprises/{code}`.
        credit_code: String,
        /// Why, e.g. 注销 or 迁出.
        #[arg(long, default_value = "")]
        reason: String,
        /// Only delete if the record is unchanged since this etag was read.
        #[arg(long)]
        etag: Option<String>,
        /// Delete even while it is an active alliance member (the
        /// memberships end) or an active project links to it (the project
        /// keeps the link).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Restore a retired enterprise.
    Undelete {
        /// Credit code or `enterprises/{code}`.
        credit_code: String,
        /// Only undelete if the record is unchanged since this etag was read.
        #[arg(long)]
        etag: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List enterprises, filtered and ordered.
    List {
        /// AIP-160 filter, e.g. 'industry_code = "C37" AND tags:"专精特新"'.
        #[arg(long, default_value = "")]
        filter: String,
        /// credit_code (default), display_name or create_time, optionally "desc".
        #[arg(long, default_value = "")]
        order_by: String,
        /// Results per page (max 1000).
        #[arg(long, default_value_t = 50)]
        page_size: i32,
        /// Continue from this page token.
        #[arg(long, default_value = "")]
        page_token: String,
        /// Fetch every page.
        #[arg(long)]
        all: bool,
        /// Include retired enterprises.
        #[arg(long)]
        show_deleted: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Check a credit code without registering anything.
    Check {
        /// The code as typed.
        credit_code: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Staff-editable fields; on update, the ones given are changed.
#[derive(Debug, Args, Default)]
pub struct Fields {
    /// Legal name (企业名称).
    #[arg(long)]
    name: Option<String>,
    /// GB/T 4754 industry code, e.g. C3742 or 3742.
    #[arg(long)]
    industry: Option<String>,
    /// Registered region, 6-digit code (default: from the credit code).
    #[arg(long)]
    region: Option<String>,
    /// Founding date YYYY-MM-DD.
    #[arg(long)]
    founded: Option<String>,
    /// Registered address.
    #[arg(long)]
    address: Option<String>,
    /// Legal representative (法定代表人).
    #[arg(long)]
    legal_rep: Option<String>,
    /// Promotion zone id (包片招商片区).
    #[arg(long)]
    zone: Option<String>,
    /// Service commissioner (服务专员).
    #[arg(long)]
    commissioner: Option<String>,
    /// Tag (repeatable); on update the tags given replace the old ones.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Contact as "name|title|phone|email" (repeatable; replaces on update).
    #[arg(long = "contact")]
    contacts: Vec<String>,
    /// Website.
    #[arg(long)]
    website: Option<String>,
    /// Notes.
    #[arg(long)]
    notes: Option<String>,
}

impl Fields {
    /// The enterprise message and the mask of the fields given.
    fn into_message(self) -> (v1::Enterprise, Vec<String>) {
        let mut e = v1::Enterprise::default();
        let mut mask = Vec::new();
        let mut set = |field: &str, value: Option<String>, slot: &mut String| {
            if let Some(v) = value {
                *slot = v;
                mask.push(field.to_string());
            }
        };
        set("display_name", self.name, &mut e.display_name);
        set("industry_code", self.industry, &mut e.industry_code);
        set("region_code", self.region, &mut e.region_code);
        set("founding_date", self.founded, &mut e.founding_date);
        set("address", self.address, &mut e.address);
        set("legal_representative", self.legal_rep, &mut e.legal_representative);
        set("promotion_zone", self.zone, &mut e.promotion_zone);
        set("service_commissioner", self.commissioner, &mut e.service_commissioner);
        set("website", self.website, &mut e.website);
        set("notes", self.notes, &mut e.notes);
        if !self.tags.is_empty() {
            e.tags = self.tags;
            mask.push("tags".into());
        }
        if !self.contacts.is_empty() {
            e.contacts = self
                .contacts
                .iter()
                .map(|c| {
                    let mut parts = c.split('|').map(|p| p.trim().to_string());
                    v1::Contact {
                        name: parts.next().unwrap_or_default(),
                        title: parts.next().unwrap_or_default(),
                        phone: parts.next().unwrap_or_default(),
                        email: parts.next().unwrap_or_default(),
                    }
                })
                .collect();
            mask.push("contacts".into());
        }
        (e, mask)
    }
}

/// `ladder changes`
#[derive(Debug, Args)]
pub struct ChangesArgs {
    /// Only this enterprise (credit code) or resource name.
    #[arg(long)]
    resource: Option<String>,
    /// From this revision (inclusive); without it the latest changes are shown.
    #[arg(long, default_value_t = 0)]
    since: u64,
    /// Up to this revision (inclusive).
    #[arg(long, default_value_t = 0)]
    until: u64,
    /// Show at most this many changes.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    /// Follow new changes as they are acknowledged (from --since, or from now),
    /// one per line, until interrupted. Resume with --since <last revision + 1>.
    #[arg(long)]
    follow: bool,
    /// With --follow: only resources whose name starts with this, e.g. enterprises/.
    #[arg(long, default_value = "")]
    prefix: String,
    /// With --follow: skip changes made with this origin (a source's own echoes).
    #[arg(long, default_value = "")]
    exclude_origin: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// `ladder changes --follow`: streams WatchChanges, one change per line.
async fn follow(args: &ChangesArgs) -> ExitCode {
    let json = args.client.json;
    // A stream runs for as long as it is wanted: no per-call time limit.
    let mut client = match connect_with(&args.client, None).await {
        Ok(channel) => ChangeServiceClient::new(channel),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let request = v1::WatchChangesRequest {
        start_revision: args.since,
        resource_prefix: args.prefix.clone(),
        kinds: vec![],
        exclude_origin: args.exclude_origin.clone(),
    };
    let mut stream = match client.watch_changes(request).await {
        Ok(r) => r.into_inner(),
        Err(status) => return fail(json, &status),
    };
    use std::io::Write as _;
    loop {
        match stream.message().await {
            Ok(Some(c)) => {
                let line = if json {
                    render::change_json(&c).to_string()
                } else {
                    let fields: Vec<&str> = c.field_changes.iter().map(|f| f.field.as_str()).collect();
                    format!(
                        "{}\t{}\t{}\t{}\t{}\t{}",
                        c.revision,
                        render::change_kind(c.kind),
                        c.resource,
                        c.actor,
                        c.origin,
                        fields.join(",")
                    )
                };
                let mut out = std::io::stdout().lock();
                if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                    return ExitCode::SUCCESS;
                }
            }
            Ok(None) => return ExitCode::SUCCESS,
            Err(status) => return fail(json, &status),
        }
    }
}

/// Adds the bearer token and the `cli` origin to every call.
#[derive(Clone)]
pub(crate) struct ClientHeaders {
    authorization: Option<MetadataValue<Ascii>>,
}

impl tonic::service::Interceptor for ClientHeaders {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(auth) = &self.authorization {
            request.metadata_mut().insert("authorization", auth.clone());
        }
        request.metadata_mut().insert(ORIGIN_HEADER, MetadataValue::from_static("cli"));
        Ok(request)
    }
}

/// A channel that adds the client headers to every call.
pub(crate) type Intercepted = InterceptedService<Channel, ClientHeaders>;

/// Connects to the server; the channel carries the token and the `cli` origin.
pub(crate) async fn connect(args: &ClientArgs) -> Result<Intercepted, String> {
    connect_with(args, Some(CALL_TIMEOUT)).await
}

/// Longest a client call may take before the CLI gives up.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Connects (default call limit), or prints why not: the exit status to
/// return.
pub(crate) async fn connect_or_exit(args: &ClientArgs) -> Result<Intercepted, std::process::ExitCode> {
    connect(args).await.map_err(|e| {
        eprintln!("error: {e}");
        std::process::ExitCode::FAILURE
    })
}

/// Connects with a per-call time limit, or none (for long streams such as a sync).
pub(crate) async fn connect_with(args: &ClientArgs, call_timeout: Option<Duration>) -> Result<Intercepted, String> {
    // Every client command connects here, so this is where the output's
    // time zone is chosen.
    render::set_utc(args.utc);
    // ... and where its tables go.
    if let Some((path, xlsx)) = args.xlsx.as_ref().map(|p| (p, true)).or(args.csv.as_ref().map(|p| (p, false))) {
        if args.json {
            return Err("--json prints JSON; --xlsx and --csv write tables: choose one".into());
        }
        let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
        crate::cli::export::start(path, xlsx, format!("ladder {command}"))?;
    }
    let url = if args.server.contains("://") { args.server.clone() } else { format!("http://{}", args.server) };
    let mut endpoint = Channel::from_shared(url.clone())
        .map_err(|e| format!("--server {url:?} is not a valid address: {e}"))?
        .connect_timeout(Duration::from_secs(5))
        // Without it, a request's HEADERS and DATA frames go out as two small
        // writes and Nagle holds the second until the server's delayed ACK:
        // 40 ms added to every call with a body.
        .tcp_nodelay(true);
    if let Some(limit) = call_timeout {
        endpoint = endpoint.timeout(limit);
    }
    if url.starts_with("https://") {
        let mut tls = tonic::transport::ClientTlsConfig::new();
        tls = match &args.ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| format!("cannot read --ca {}: {e}", path.display()))?;
                tls.ca_certificate(tonic::transport::Certificate::from_pem(pem))
            }
            None => tls.with_native_roots(),
        };
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS for {url}: {e}"))?;
    } else if args.ca.is_some() {
        return Err(format!("--ca is for https:// servers; {url} is plain HTTP"));
    }
    let channel = endpoint.connect().await.map_err(|e| {
        format!(
            "cannot reach the ladder server at {url}: {e} (is `ladder serve` running? see --server / LADDER_SERVER)"
        )
    })?;
    let authorization = match &args.token {
        Some(token) => Some(
            format!("Bearer {}", token.trim())
                .parse()
                .map_err(|_| "the token contains characters that cannot be sent in a header".to_string())?,
        ),
        None => None,
    };
    Ok(InterceptedService::new(channel, ClientHeaders { authorization }))
}

/// Reads list pages (`page(token)` → items and the next token) until
/// `limit` items or the last page; also says whether more items remain.
pub(crate) async fn collect_pages<T, F, Fut>(limit: usize, mut page: F) -> Result<(Vec<T>, bool), tonic::Status>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let (items, next) = page(token).await?;
        all.extend(items);
        if next.is_empty() || all.len() >= limit {
            let more = all.len() > limit || !next.is_empty();
            all.truncate(limit);
            return Ok((all, more));
        }
        token = next;
    }
}

fn resource(code: &str) -> String {
    let code = code.trim();
    if code.starts_with("enterprises/") {
        code.to_string()
    } else {
        format!("enterprises/{code}")
    }
}

/// Prints a failure and gives the exit code.
pub(crate) fn fail(json: bool, status: &tonic::Status) -> ExitCode {
    if json {
        println!("{}", render::status_json(status));
    } else {
        eprintln!("{}", render::status_error(status));
    }
    ExitCode::FAILURE
}

fn show_enterprise(json: bool, e: &v1::Enterprise) {
    if json {
        println!("{}", render::enterprise_json(e));
    } else {
        print!("{}", render::enterprise_text(e));
    }
}

/// Runs `ladder enterprise …`.
pub async fn enterprise(cmd: EnterpriseCommand) -> ExitCode {
    let client_args = match &cmd {
        EnterpriseCommand::Create { client, .. }
        | EnterpriseCommand::Get { client, .. }
        | EnterpriseCommand::Update { client, .. }
        | EnterpriseCommand::Delete { client, .. }
        | EnterpriseCommand::Undelete { client, .. }
        | EnterpriseCommand::List { client, .. }
        | EnterpriseCommand::Check { client, .. } => client.clone(),
    };
    let json = client_args.json;
    let mut client = match connect(&client_args).await {
        Ok(channel) => EnterpriseServiceClient::new(channel),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // `check` of an invalid code succeeds as a call but fails as a command.
    let mut invalid_code = false;
    let result = match cmd {
        EnterpriseCommand::Create {
            credit_code,
            fields,
            override_reason,
            validate_only,
            request_id,
            ..
        } => {
            let (mut e, _) = fields.into_message();
            e.credit_code = credit_code;
            client
                .create_enterprise(v1::CreateEnterpriseRequest {
                    enterprise: Some(e),
                    request_id: request_id.unwrap_or_default(),
                    validate_only,
                    credit_code_override_reason: override_reason.unwrap_or_default(),
                })
                .await
                .map(|r| show_enterprise(json, r.get_ref()))
        }
        EnterpriseCommand::Get { credit_code, .. } => client
            .get_enterprise(v1::GetEnterpriseRequest {
                name: resource(&credit_code),
            })
            .await
            .map(|r| show_enterprise(json, r.get_ref())),
        EnterpriseCommand::Update {
            credit_code,
            fields,
            clear,
            etag,
            validate_only,
            request_id,
            ..
        } => {
            let (mut e, mut mask) = fields.into_message();
            mask.extend(clear);
            if mask.is_empty() {
                eprintln!("error: nothing to update: give at least one field (e.g. --name) or --clear FIELD");
                return ExitCode::from(2);
            }
            e.name = resource(&credit_code);
            client
                .update_enterprise(v1::UpdateEnterpriseRequest {
                    enterprise: Some(e),
                    update_mask: Some(prost_types::FieldMask { paths: mask }),
                    etag: etag.unwrap_or_default(),
                    request_id: request_id.unwrap_or_default(),
                    validate_only,
                })
                .await
                .map(|r| show_enterprise(json, r.get_ref()))
        }
        EnterpriseCommand::Delete {
            credit_code,
            reason,
            etag,
            force,
            ..
        } => client
            .delete_enterprise(v1::DeleteEnterpriseRequest {
                name: resource(&credit_code),
                etag: etag.unwrap_or_default(),
                reason,
                force,
                ..Default::default()
            })
            .await
            .map(|r| show_enterprise(json, r.get_ref())),
        EnterpriseCommand::Undelete { credit_code, etag, .. } => client
            .undelete_enterprise(v1::UndeleteEnterpriseRequest {
                name: resource(&credit_code),
                etag: etag.unwrap_or_default(),
                ..Default::default()
            })
            .await
            .map(|r| show_enterprise(json, r.get_ref())),
        EnterpriseCommand::List {
            filter,
            order_by,
            page_size,
            page_token,
            all,
            show_deleted,
            ..
        } => {
            let mut request = v1::ListEnterprisesRequest {
                page_size,
                page_token,
                filter,
                order_by,
                show_deleted,
            };
            // Exporting, each page is written as it arrives: a list of any
            // size takes the memory of one page.
            let streaming = crate::cli::export::active();
            let mut items = Vec::new();
            let mut shown = 0usize;
            let (total, next) = loop {
                match client.list_enterprises(request.clone()).await {
                    Ok(r) => {
                        let r = r.into_inner();
                        shown += r.enterprises.len();
                        if streaming {
                            print!("{}", render::enterprise_table(&r.enterprises));
                        } else {
                            items.extend(r.enterprises);
                        }
                        if !all || r.next_page_token.is_empty() {
                            break (r.total_size, r.next_page_token);
                        }
                        request.page_token = r.next_page_token;
                    }
                    Err(status) => return fail(json, &status),
                }
            };
            if json {
                let out = serde_json::json!({
                    "enterprises": items.iter().map(render::enterprise_json).collect::<Vec<_>>(),
                    "next_page_token": next,
                    "total_size": total,
                });
                println!("{out}");
            } else {
                if !streaming {
                    print!("{}", render::enterprise_table(&items));
                }
                eprintln!("{shown} shown of {total}");
                if !next.is_empty() {
                    eprintln!("more: --page-token {next}  (or --all)");
                }
            }
            Ok(())
        }
        EnterpriseCommand::Check { credit_code, .. } => client
            .validate_credit_code(v1::ValidateCreditCodeRequest { credit_code })
            .await
            .map(|r| {
                let r = r.into_inner();
                invalid_code = !r.valid;
                if json {
                    println!(
                        "{}",
                        serde_json::json!({
                            "credit_code": r.credit_code, "valid": r.valid, "problems": r.problems,
                            "organisation_type": r.organisation_type, "organisation_type_label": r.organisation_type_label,
                            "registration_region_code": r.registration_region_code, "region_name": r.region_name,
                            "registered_as": r.registered_as,
                        })
                    );
                } else {
                    let verdict = if r.valid { "valid".to_string() } else { format!("INVALID: {}", r.problems.join("; ")) };
                    print!(
                        "{}",
                        crate::cli::table::render_pairs(&[
                            ("信用代码 code", r.credit_code),
                            ("校验 check", verdict),
                            ("类型 type", format!("{} {}", r.organisation_type, r.organisation_type_label)),
                            ("登记机关 region", format!("{} {}", r.registration_region_code, r.region_name)),
                            ("已登记 registered", r.registered_as),
                        ])
                    );
                }
            }),
    };
    match result {
        Ok(()) if invalid_code => ExitCode::FAILURE,
        Ok(()) => ExitCode::SUCCESS,
        Err(status) => fail(json, &status),
    }
}

/// Runs `ladder changes`.
pub async fn changes(args: ChangesArgs) -> ExitCode {
    if args.follow {
        return follow(&args).await;
    }
    let json = args.client.json;
    let mut client = match connect(&args.client).await {
        Ok(channel) => ChangeServiceClient::new(channel),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let resource = args.resource.as_deref().map(resource_or_name).unwrap_or_default();
    let limit = args.limit.max(1);
    let mut start = args.since;
    if start == 0 && resource.is_empty() {
        // Without --since, show the latest changes: find the head first.
        let probe = v1::ListChangesRequest { page_size: 1, ..Default::default() };
        match client.list_changes(probe).await {
            Ok(r) => start = r.into_inner().head_revision.saturating_sub(limit as u64 - 1).max(1),
            Err(status) => return fail(json, &status),
        }
    }
    let mut request = v1::ListChangesRequest {
        resource,
        start_revision: start,
        end_revision: args.until,
        page_size: 1000,
        page_token: String::new(),
    };
    let mut changes = Vec::new();
    loop {
        match client.list_changes(request.clone()).await {
            Ok(r) => {
                let r = r.into_inner();
                changes.extend(r.changes);
                if (args.since != 0 && changes.len() >= limit) || r.next_page_token.is_empty() {
                    break;
                }
                request.page_token = r.next_page_token;
            }
            Err(status) => return fail(json, &status),
        }
    }
    if args.since == 0 {
        // The latest `limit`, oldest first.
        let skip = changes.len().saturating_sub(limit);
        changes.drain(..skip);
    }
    changes.truncate(limit);
    if json {
        println!("{}", serde_json::json!({ "changes": changes.iter().map(render::change_json).collect::<Vec<_>>() }));
    } else {
        print!("{}", render::change_table(&changes));
    }
    ExitCode::SUCCESS
}

/// A bare credit code becomes `enterprises/{code}`; resource names pass through.
fn resource_or_name(value: &str) -> String {
    if value.contains('/') {
        value.trim().to_string()
    } else {
        resource(value)
    }
}
