// The API as the page sees it: the JSON mapping of ladder's gRPC services
// (POST /api/ladder.v1.{Service}/{Method}), served by ladder itself.
//
// Requests and responses use proto field names (snake_case); enums travel by
// name ("STAGE_CLIMB"), 64-bit integers as strings, timestamps as RFC 3339
// strings, field masks as one comma-separated string of camelCase paths
// ("displayName,tags"). Every field of a response is present, at its default
// when unset (message fields excepted: absent when unset).

const TOKEN_KEY = 'ladder.token';

/** An error answered by the server: gRPC code, reason, violations. */
export class ApiError extends Error {
  constructor(body, httpStatus) {
    super(body.message || `HTTP ${httpStatus}`);
    this.code = body.code || 'UNKNOWN';
    this.reason = body.reason || '';
    this.metadata = body.metadata || {};
    this.violations = body.violations || [];
    this.httpStatus = httpStatus;
  }
}

/** The token of this tab's session (sessionStorage: gone when the tab closes). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Keeps `t` as this tab's token (empty: signs out). */
export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  whoCache = null;
}

function headers(extra) {
  const h = { 'x-ladder-client': 'web', ...extra };
  const t = token();
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

async function post(path, body, contentType, extraHeaders) {
  let response;
  try {
    response = await fetch(path, {
      method: 'POST',
      headers: headers({ 'content-type': contentType, ...(extraHeaders || {}) }),
      body,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError({ code: 'UNAVAILABLE', message: `服务器无法连接：${e.message}` }, 0);
  }
  if (!response.ok) {
    let parsed;
    try {
      parsed = await response.json();
    } catch {
      parsed = { code: 'UNKNOWN', message: `HTTP ${response.status}` };
    }
    throw new ApiError(parsed, response.status);
  }
  return response;
}

/**
 * Calls one unary RPC: `call('EnterpriseService', 'GetEnterprise', {name})`.
 * Resolves to the response message; rejects with an ApiError.
 */
export async function call(service, method, request = {}) {
  const response = await post(`/api/ladder.v1.${service}/${method}`, JSON.stringify(request), 'application/json');
  return response.json();
}

let whoCache = null;

/** The caller as the server sees them (WhoAmI), cached until the token changes. */
export async function whoami() {
  if (!whoCache) {
    whoCache = call('EnterpriseService', 'WhoAmI', {}).catch((e) => {
      whoCache = null;
      throw e;
    });
  }
  return whoCache;
}

/**
 * Sends a CSV/XLSX file as a sync run: `{source, dry_run, full}`.
 * Resolves to `{run, encoding, rows}` (run: a SyncRun).
 */
export async function upload(file, { source, dryRun, full }) {
  const q = new URLSearchParams({ source, dry_run: String(!!dryRun), full: String(!!full) });
  const response = await post(`/web/import?${q}`, file, 'application/octet-stream');
  return response.json();
}

/** The supply–demand map of a GetSupplyDemandMap request, as SVG text. */
export async function mapSvg(request) {
  const response = await post('/web/map.svg', JSON.stringify(request), 'application/json');
  return response.text();
}

/**
 * Downloads a table as XLSX. `columns` use the CLI's "中文 ENGLISH" headers
 * (they decide each column's type: "日期 DATE" a date, "(万元)" an amount…);
 * `rows` are arrays of strings.
 */
export async function downloadXlsx(title, columns, rows) {
  const response = await post('/web/export.xlsx', JSON.stringify({ title, columns, rows }), 'application/json');
  const blob = await response.blob();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `${title}.xlsx`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
