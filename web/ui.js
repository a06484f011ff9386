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

/** A box explaining an error: message, gRPC code and reason, each field violation. */
export function errorBox(err) {
  if (!(err instanceof ApiError)) {
    return h('div', { class: 'error', role: 'alert' }, h('strong', {}, '出错了：'), String(err && err.message ? err.message : err));
  }
  return h(
    'div',
    { class: 'error', role: 'alert', dataset: { code: err.code, reason: err.reason } },
    h('strong', {}, err.message),
    h('div', { class: 'muted' }, `${err.code}${err.reason ? ` · ${err.reason}` : ''}`),
    err.violations.length
      ? h('ul', {}, err.violations.map((v) => h('li', {}, h('code', {}, v.field), `：${v.description}`, v.reason ? h('span', { class: 'muted' }, ` (${v.reason})`) : null)))
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
 * A plain table. `columns`: [{title: '名称 NAME', get: row => text or Node, text?: row => string for export}].
 * The title's Chinese part is shown; the whole title types the XLSX column.
 */
export function table(columns, rows, opts = {}) {
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
