// Small building blocks every page uses: a DOM builder (text always goes in
// as text, never as HTML), China Standard Time formatting, the labels of the
// ladder's enums, error boxes, and a server-paged table with exact totals and
// XLSX download.

import { ApiError, downloadXlsx } from './api.js';

/**
 * Builds an element: `h('a', {href: '#/firms', class: 'x', onclick: fn}, 'text', child…)`.
 * Strings become text nodes; null/false children are skipped; arrays are flattened.
 */
export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const CST = 'Asia/Shanghai';

/** A timestamp (RFC 3339) as China Standard Time: 2026-12-01 10:27:59. */
export function fmtTime(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return String(ts);
  const p = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: CST, year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
    }).formatToParts(d).map((x) => [x.type, x.value]),
  );
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** Today's date in China Standard Time (YYYY-MM-DD). */
export function todayCst() {
  return fmtTime(new Date().toISOString()).slice(0, 10);
}

/** A date `days` after `date` (YYYY-MM-DD, negative for before). */
export function addDays(date, days) {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** A number with thousands separators (strings from int64 fields too). */
export function fmtNum(n, digits = 0) {
  const x = Number(n || 0);
  return x.toLocaleString('zh-CN', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** 万元 with two decimals. */
export function fmtWan(n) {
  return `${fmtNum(n, 2)} 万元`;
}

/** Stages of the ladder, in order, with their Chinese names. */
export const STAGES = [
  ['STAGE_UNSPECIFIED', '未入梯'],
  ['STAGE_NURTURE', '育小'],
  ['STAGE_CLIMB', '登高'],
  ['STAGE_SCALE_UP', '升规'],
  ['STAGE_ADVANCE', '晋位'],
  ['STAGE_LISTED', '上市'],
];

/** The Chinese name of a stage enum. */
export function stageLabel(stage) {
  const s = STAGES.find(([k]) => k === stage);
  return s ? s[1] : stage || '';
}

/** The short credit code of `enterprises/{code}`. */
export function codeOf(name) {
  return String(name || '').replace(/^enterprises\//, '');
}

/** Link to a firm's page. */
export function firmLink(name, label) {
  const code = codeOf(name);
  return h('a', { href: `#/firms/${encodeURIComponent(code)}`, class: 'firm-link' }, label || code);
}

/**
 * What the server's reasons (google.rpc.ErrorInfo) mean, in Chinese: the
 * server's own message (English) is shown under it as the detail.
 */
export const REASON_TEXT = {
  ETAG_MISMATCH: '此记录在您打开后已被他人修改，请重新载入后再改',
  RESOURCE_ALREADY_EXISTS: '记录已存在（已删除的记录请先恢复）',
  RESOURCE_NOT_FOUND: '记录不存在',
  REQUEST_TIMEOUT: '请求超时，请稍后重试',
  ACTIVE_MEMBERS: '联盟仍有在册成员',
  ACTIVE_MEMBERSHIPS: '企业仍是联盟在册成员，请先办理退出',
  ACTIVE_PROJECTS: '仍有在推进的招商项目关联此企业',
  ALLIANCE_DELETED: '联盟已撤销',
  ALREADY_CLOSED: '已关闭',
  ALREADY_DELETED: '已删除',
  ALREADY_ON_HOLD: '项目已暂缓',
  ALREADY_REVERTED: '此批次已撤销过',
  ALREADY_REVOKED: '认定已撤销',
  CHAIR_TAKEN: '联盟已有理事长单位，请先办理交接',
  DELETED: '记录已删除',
  DRY_RUN: '试运行批次无需撤销',
  ENTERPRISE_DELETED: '企业已删除，请先恢复',
  ILLEGAL_TRANSITION: '当前状态下不能这样推进',
  MEMBERSHIP_ENDED: '成员资格已终止',
  NOT_DELETED: '记录未删除，无需恢复',
  NOT_ON_HOLD: '项目未暂缓',
  POSTING_CLOSED: '供需信息已关闭',
  POSTING_EXPIRED: '供需信息已过期',
  PROJECT_DELETED: '项目已删除',
  PROJECT_LOST: '项目已流失，请先恢复推进',
  PROJECT_ON_HOLD: '项目已暂缓，请先恢复推进',
  REVERT_IN_PROGRESS: '撤销正在进行',
  RUN_IN_PROGRESS: '批次仍在运行',
  RUN_COMPACTED: '批次太旧，变更记录已清理，无法撤销',
  AMOUNT_REQUIRED: '需要填写金额（万元）',
  AMOUNT_NOT_ALLOWED: '这一步不填写金额',
  BAD_SHAPE: '格式不对',
  BIDI_CONTROL: '含双向控制字符',
  CHECK_CHARACTER_MISMATCH: '信用代码校验位不符',
  CONTROL_CHARACTER: '含控制字符',
  DATE_IN_FUTURE: '日期不能晚于今天',
  DATE_OUT_OF_ORDER: '日期早于上一步',
  DUPLICATE: '重复',
  DUPLICATE_CERTIFICATE: '证书编号已登记在另一条认定上',
  DUPLICATE_IN_STREAM: '文件内重复',
  EMPTY: '不能为空',
  EMPTY_UPDATE_MASK: '没有要修改的字段',
  FIELD_NOT_UPDATABLE: '此字段不可修改',
  INVALID_CHARACTER: '含非法字符',
  INVALID_DATE: '日期无效（应为 YYYY-MM-DD）',
  INVALID_EMAIL: '邮箱格式不对',
  INVALID_FILTER: '筛选条件写法不对',
  INVALID_PAGE_TOKEN: '分页已失效，请回到第一页',
  INVALID_PHONE: '电话格式不对',
  INVALID_REGION_CODE: '行政区划代码无效',
  INVALID_WEBSITE: '网址无效',
  INVALID_URL: '网址无效',
  INVALID_YEAR: '年份无效',
  INVALID_ZONE: '片区无效',
  INVALID_RESOURCE_NAME: '资源名无效',
  NEGATIVE: '不能为负数',
  ORGANISATION_CODE_CHECK_MISMATCH: '组织机构代码校验位不符',
  OTHER_FIRM: '指标属于其他企业',
  QUANTITY_OR_AMOUNT_REQUIRED: '需要填写数量（含单位）或金额',
  REGION_NOT_DIGITS: '区划位应为数字',
  REQUIRED: '必填项为空',
  SECTION_MISMATCH: '门类与行业代码不符',
  TOO_LONG: '内容过长',
  TOO_MANY: '数量过多',
  UNKNOWN_ALLIANCE: '联盟不存在',
  UNKNOWN_DIVISION: '行业大类不存在',
  UNKNOWN_ENTERPRISE: '企业未登记',
  UNKNOWN_FIELD: '未知字段',
  UNKNOWN_SECTION: '行业门类不存在',
  UNKNOWN_ZONE: '片区不在配置中',
  UNREADABLE_FILE: '文件无法导入',
  UNTIL_BEFORE_FROM: '截止日期早于起始日期',
  WRONG_LENGTH: '长度不对（信用代码为 18 位）',
  CROSS_ORIGIN: '请从本服务器的地址打开工作台',
  HOST_NOT_LOOPBACK: '未配置令牌的服务器只能在本机（127.0.0.1）打开',
  ROLE_NOT_ALLOWED: '您的角色无权执行此操作',
  SOURCE_OF_ANOTHER_CALLER: '此数据源属于另一位用户',
  REQUEST_TOO_LARGE: '请求过大',
  RESPONSE_TOO_LARGE: '结果过大，请缩小范围',
  TOO_MANY_SYNC_STREAMS: '同时进行的同步过多，请稍后重试',
  TOO_MANY_UPLOADS: '已有上传或导出在进行，请稍后重试',
  INVALID_TOKEN: '令牌无效',
  MALFORMED_AUTHORIZATION: '令牌格式不对',
  MISSING_TOKEN: '需要登录',
  UNAVAILABLE: '服务器暂不可用，请稍后重试',
  INTERNAL: '服务器内部错误',
};

/** A reason's Chinese explanation, or nothing when there is none. */
export function reasonText(reason) {
  return REASON_TEXT[reason] || '';
}

/** A box explaining an error: message, gRPC code and reason, each field violation. */
export function errorBox(err) {
  if (!(err instanceof ApiError)) {
    return h('div', { class: 'error', role: 'alert' }, h('strong', {}, '出错了：'), String(err && err.message ? err.message : err));
  }
  const zh = reasonText(err.reason);
  return h(
    'div',
    { class: 'error', role: 'alert', dataset: { code: err.code, reason: err.reason } },
    h('strong', {}, zh || err.message),
    zh ? h('div', {}, err.message) : null,
    h('div', { class: 'muted' }, `${err.code}${err.reason ? ` · ${err.reason}` : ''}`),
    err.violations.length
      ? h('ul', {}, err.violations.map((v) => h('li', {}, h('code', {}, fieldLabel(v.field.replace(/^[a-z_]+\./, ''))),
        `：${reasonText(v.reason) ? `${reasonText(v.reason)}（${v.description}）` : v.description}`,
        v.reason ? h('span', { class: 'muted' }, ` (${v.reason})`) : null)))
      : null,
  );
}

/** Runs `fn`, showing a loading line in `el`, then its result or the error. */
export async function load(el, fn) {
  fill(el, h('div', { class: 'loading' }, '加载中…'));
  try {
    const content = await fn();
    fill(el, content);
  } catch (e) {
    fill(el, errorBox(e));
  }
}

/** A transient message at the bottom of the screen. */
export function toast(text, kind = 'ok') {
  const el = h('div', { class: `toast ${kind}`, role: 'status' }, text);
  document.body.append(el);
  setTimeout(() => el.remove(), 4000);
}

/**
 * A plain table. `columns`: [{title: '名称 NAME', get: row => text or Node, text?: row => string for export,
 * noShow?: only in downloads, noExport?: only on screen}].
 * The title's Chinese part is shown; the whole title types the XLSX column.
 */
export function table(columns, rows, opts = {}) {
  columns = columns.filter((c) => !c.noShow);
  return h(
    'div', { class: 'table-wrap' },
    h('table', { class: opts.class || '' },
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', {}, shortTitle(c.title))))),
      h('tbody', {}, rows.length
        ? rows.map((r) => h('tr', {}, columns.map((c) => h('td', { class: c.class || null }, cell(c.get(r))))))
        : h('tr', {}, h('td', { colspan: columns.length, class: 'muted empty' }, opts.empty || '（无）'))),
    ),
  );
}

function cell(v) {
  return v === null || v === undefined ? '' : v;
}

/** The Chinese part of a "中文 ENGLISH" header. */
export function shortTitle(title) {
  const words = String(title).split(' ');
  while (words.length > 1 && /^[\x20-\x7e]+$/.test(words[words.length - 1])) words.pop();
  return words.join(' ');
}

function exportText(c, r) {
  if (c.text) return String(c.text(r) ?? '');
  const v = c.get(r);
  if (v instanceof Node) return v.textContent;
  return v === null || v === undefined ? '' : String(v);
}

/** A button that downloads `columns` × `rows()` (sync or async) as XLSX. */
export function exportButton(title, columns, rows) {
  const b = h('button', { type: 'button', class: 'secondary export', onclick: async () => {
    b.disabled = true;
    try {
      const all = await rows();
      const cut = all.length >= MAX_EXPORT_ROWS;
      const name = cut ? `${title}（前 ${MAX_EXPORT_ROWS} 行）` : title;
      await downloadXlsx(name, columns.map((c) => c.title), all.map((r) => columns.map((c) => exportText(c, r))));
      if (cut) toast(`只导出了前 ${fmtNum(MAX_EXPORT_ROWS)} 行：请先筛选，缩小范围后再导出`, 'bad');
    } catch (e) {
      toast(e.message, 'bad');
    } finally {
      b.disabled = false;
    }
  } }, '导出 XLSX');
  return b;
}

/** Most rows one download gathers page by page. */
export const MAX_EXPORT_ROWS = 20000;

/**
 * A table paged on the server. `fetchPage(pageToken, pageSize)` resolves to
 * `{rows, next, total, estimated}` (next: the next page token, '' at the end;
 * total: the exact count, or undefined for lists whose responses carry none;
 * estimated: the server says the total is an estimate). Shows
 * "第 a–b 条，共 N 条" (without a total: "后面还有" until the last page) with
 * previous/next, and an XLSX download of every row of the query (up to
 * MAX_EXPORT_ROWS). Options: `id` of the root, `render(columns, rows, empty)`
 * to draw the rows another way (default `table`), columns marked `noExport`
 * left out of the download, `onPage(page)` after each page. The root's
 * `reload()` re-reads the page shown.
 */
export function pagedTable({ title, columns, fetchPage, pageSize = 50, empty, id, render, onPage }) {
  const root = h('div', { class: 'paged', id: id || null });
  const body = h('div', {}, h('div', { class: 'loading' }, '加载中…'));
  const status = h('span', { class: 'page-status' });
  const prev = h('button', { type: 'button', class: 'secondary', onclick: () => go(index - 1) }, '上一页');
  const next = h('button', { type: 'button', class: 'secondary', onclick: () => go(index + 1) }, '下一页');
  const tokens = [''];
  // Rows before each page: pages may come back shorter than asked.
  const offsets = [0];
  let index = 0;
  const draw = render || ((cols, rows, e) => table(cols, rows, { empty: e }));
  const exportColumns = columns.filter((c) => !c.noExport);
  const all = async () => {
    const out = [];
    let t = '';
    do {
      const page = await fetchPage(t, 500);
      out.push(...page.rows);
      t = page.next;
    } while (t && out.length < MAX_EXPORT_ROWS);
    return out.slice(0, MAX_EXPORT_ROWS);
  };
  async function go(i) {
    if (i < 0 || i >= tokens.length) return;
    prev.disabled = next.disabled = true;
    try {
      const page = await fetchPage(tokens[i], pageSize);
      index = i;
      if (page.next && tokens.length === i + 1) tokens.push(page.next);
      offsets[i + 1] = offsets[i] + page.rows.length;
      fill(body, draw(columns, page.rows, empty));
      const from = offsets[i] + (page.rows.length ? 1 : 0);
      const to = offsets[i] + page.rows.length;
      const known = page.total !== undefined && page.total !== null;
      const total = known ? Number(page.total) : page.next ? null : to;
      const range = to ? `第 ${fmtNum(from)}–${fmtNum(to)} 条，` : '';
      delete status.dataset.total;
      delete status.dataset.estimated;
      if (total === null) {
        fill(status, `${range}后面还有`);
      } else if (page.estimated && page.next) {
        // The server counted part of the candidates and extrapolated.
        fill(status, `${range}约 ${fmtNum(total)} 条（估计）`);
        status.dataset.estimated = String(total);
      } else {
        // An estimate seen to the last page is replaced by the true count.
        const exact = page.estimated ? to : total;
        fill(status, to ? `${range}共 ${fmtNum(exact)} 条` : '共 0 条');
        status.dataset.total = String(exact);
      }
      prev.disabled = i === 0;
      next.disabled = !page.next;
      if (onPage) onPage(page);
    } catch (e) {
      fill(body, errorBox(e));
      prev.disabled = index === 0;
    }
  }
  fill(root, h('div', { class: 'toolbar' }, status, h('span', { class: 'spacer' }), prev, next, exportButton(title, exportColumns, all)), body);
  root.reload = () => go(index);
  go(0);
  return root;
}

/** Chinese names of the origins a change records. */
export const ORIGIN_LABELS = {
  api: '接口', web: '工作台', cli: '命令行', system: '系统', seed: '示例数据', revert: '回滚', 'stage-sweeper': '梯度巡检',
};
/** Chinese names of the record fields a change lists. */
export const FIELD_LABELS = {
  credit_code: '信用代码', display_name: '企业名称', former_names: '曾用名', industry_code: '行业代码',
  region_code: '注册地', founding_date: '成立日期', address: '注册地址', legal_representative: '法定代表人',
  promotion_zone: '招商片区', service_commissioner: '服务专员', contacts: '联系人', tags: '标签', website: '网站',
  notes: '备注', delete_time: '删除时间', delete_reason: '删除原因', credit_code_override: '代码核验',
  kind: '类型', status: '状态', level: '级别', authority: '发证机关', batch: '批次', certificate_number: '证书编号',
  issued_date: '发证日期', valid_from: '起始日期', valid_until: '截止日期', ended_date: '终止日期',
  end_reason: '终止原因', barred_until: '禁止申报至', evidence: '依据', source: '来源', role: '角色', state: '状态',
  join_date: '加入日期', end_date: '退出日期', note: '备注', events: '经历', revenue: '营业收入',
  main_business_revenue: '主营业务收入', employees: '从业人员', tech_staff: '科技人员', rd_expense: '研发费用',
  rd_domestic_share: '境内研发占比', high_tech_revenue: '高新收入', total_assets: '资产总额',
  total_liabilities: '负债总额', equity_financing: '股权融资', valuation: '估值',
};

/** An origin's Chinese name (a sync source keeps its own name). */
export function originLabel(origin) {
  return ORIGIN_LABELS[origin] || origin || '';
}

/** A field's Chinese name, or the field as it is. */
export function fieldLabel(field) {
  return FIELD_LABELS[field] || field;
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}

/** A page section with a heading. */
export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

/** Reads the hash route's query: `#/firms?q=x` → URLSearchParams. */
export function routeQuery() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

/** Sets the hash route's query without reloading the page. */
export function setRouteQuery(params) {
  const base = location.hash.split('?')[0] || '#/';
  const q = new URLSearchParams(params);
  for (const [k, v] of [...q]) if (!v) q.delete(k);
  const s = q.toString();
  history.replaceState(null, '', s ? `${base}?${s}` : base);
}
