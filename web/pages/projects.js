// 招商项目: the project library (list with filters and a stage strip), one
// project with its pipeline history and yearly investment figures (and, for
// editors, a form to record the next step), and the reports sent upward:
// the funnel, key-project investment, stalled projects, chain-gap coverage.

import {
  h, fill, fmtTime, fmtNum, todayCst, errorBox, load, toast, table, pagedTable, exportButton, field, section,
  firmLink, codeOf, setRouteQuery,
} from '../ui.js';

const CSS = '/assets/pages/projects.css';

function loadCss() {
  if (!document.querySelector(`link[href="${CSS}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href: CSS }));
  }
}

// ---------------------------------------------------------------------------
// Labels (the CLI's, src/cli/project.rs).

const STAGES = [
  ['LEAD', '线索'], ['CONTACT', '接洽'], ['VISIT', '考察'], ['NEGOTIATION', '洽谈'], ['SIGNED', '签约'],
  ['REGISTERED', '注册落地'], ['LAND', '拿地'], ['CONSTRUCTION', '开工'], ['PRODUCTION', '投产'], ['STATISTICS', '入统'],
];
const STATUS = { ACTIVE: '推进中', ON_HOLD: '暂缓', LOST: '流失' };
const KEY_LEVEL = { NONE: '非重点', DISTRICT: '区级', MUNICIPAL: '市级', PROVINCIAL: '省级', NATIONAL: '国家级' };
const LEAD_SOURCE = {
  ALLIANCE: '联盟以商招商', MEMBER_FIRM: '企业以商招商', CHAMBER: '商会', ASSOCIATION: '协会', PROMOTION_EVENT: '推介活动',
  CHAIN_TARGETING: '产业链招商', WALK_IN: '自主上门', OTHER: '其他',
};
const EVENT_KIND = { STEP: '推进', HOLD: '暂缓', RESUME: '恢复', LOSE: '流失', CORRECTION: '更正' };
const LOSS_REASON = { OTHER_LOCATION: '落户他处', INVESTOR_WITHDREW: '投资方放弃', FACTORS: '要素保障不足', TERMS: '条件未谈拢', OTHER: '其他' };
const GROUP_BY = [
  ['', '不分组'], ['ZONE', '片区'], ['DEPARTMENT', '部门'], ['INDUSTRY', '行业门类'], ['SOURCE_REGION', '来源地'],
  ['LEAD_SOURCE', '线索来源'], ['KEY_LEVEL', '重点级别'],
];

/** `PROJECT_STAGE_SIGNED` → `SIGNED`. */
function bare(value, prefix) {
  return String(value || '').replace(prefix, '');
}
const stageKey = (s) => bare(s, 'PROJECT_STAGE_');
const stageIndex = (s) => STAGES.findIndex(([k]) => k === stageKey(s));
const stageName = (s) => (STAGES.find(([k]) => k === stageKey(s)) || [, ''])[1];
const statusName = (s) => STATUS[bare(s, 'PROJECT_STATUS_')] || '';
const keyLevelName = (k) => KEY_LEVEL[bare(k, 'KEY_LEVEL_')] || '';
const leadSourceName = (k) => LEAD_SOURCE[bare(k, 'LEAD_SOURCE_')] || '';
const lossName = (k) => LOSS_REASON[bare(k, 'LOSS_REASON_')] || '';
const kindName = (k) => EVENT_KIND[bare(k, 'PROJECT_EVENT_KIND_')] || k;

function stageTag(s) {
  const i = stageIndex(s);
  return i < 0 ? '' : h('span', { class: `pstage p${i}` }, stageName(s));
}

function statusTag(p) {
  const s = bare(p.status, 'PROJECT_STATUS_');
  const cls = { ACTIVE: 'st-active', ON_HOLD: 'st-hold', LOST: 'st-lost' }[s] || '';
  return h('span', { class: `tag ${cls}` }, statusName(p.status) || '—', p.delete_time ? '（已删除）' : '');
}

/** An amount in 万元 with up to two decimals and separators. */
function wan(x) {
  const n = Number(x || 0);
  return n.toLocaleString('zh-CN', { maximumFractionDigits: 2 });
}
const wanCell = (x) => (Number(x) ? wan(x) : '');
const wanText = (x) => (Number(x) ? String(Math.round(Number(x) * 100) / 100) : '');
const pct = (x) => `${Number(x || 0).toFixed(2)}%`;

function projectId(name) {
  return String(name || '').replace(/^projects\//, '');
}
function projectLink(name, label) {
  return h('a', { href: `#/projects/${encodeURIComponent(projectId(name))}` }, label || projectId(name));
}

let zones = [];
function zoneName(id) {
  const z = zones.find((x) => x.id === id);
  return z ? (z.display_name || z.id) : id || '';
}

/** The query a list link carries: `#/projects?stage=SIGNED&status=ACTIVE`. */
function listHref(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `#/projects?${s}` : '#/projects';
}

/** The project filter of ListProjects from the page's query. */
function buildFilter(q, { withStage = true } = {}) {
  const terms = [];
  if (withStage && q.stage) terms.push(`stage ${q.from ? '>=' : '='} ${q.stage}`);
  if (withStage && q.status) terms.push(`status = ${q.status}`);
  if (q.zone) terms.push(`zone = ${quote(q.zone)}`);
  if (q.key_level) terms.push(`key_level ${q.key_from ? '>=' : '='} ${q.key_level}`);
  if (q.department) terms.push(`department = ${quote(q.department)}`);
  const text = (q.q || '').trim();
  if (text) {
    if (/^[0-9A-HJ-NPQRTUWXY]{18}$/i.test(text)) terms.push(`credit_code = ${text.toUpperCase()}`);
    // Plain words search the project's and the investor's names; a filter
    // expression (with =, : or <, >) goes as it is.
    else if (!/[=:<>]/.test(text)) terms.push(`display_name:"${text.replace(/["\\]/g, '\\$&')}"`);
    else terms.push(text);
  }
  return terms.join(' AND ');
}

function quote(v) {
  return /^[A-Za-z0-9_-]+$/.test(v) ? v : `"${String(v).replace(/["\\]/g, '\\$&')}"`;
}

function readQuery(query) {
  const keys = ['stage', 'from', 'status', 'zone', 'key_level', 'key_from', 'department', 'q'];
  return Object.fromEntries(keys.map((k) => [k, query.get(k) || '']));
}

// ---------------------------------------------------------------------------

export async function render(root, ctx) {
  loadCss();
  zones = ctx.who.zones || [];
  if (ctx.parts[0]) return renderProject(root, ctx, ctx.parts[0]);
  const tab = ctx.query.get('tab') === 'reports' ? 'reports' : 'list';
  const q = readQuery(ctx.query);
  const tabs = h('nav', { class: 'tabs' },
    h('a', { href: listHref({}), class: tab === 'list' ? 'active' : null, 'data-tab': 'list' }, '项目库'),
    h('a', { href: '#/projects?tab=reports', class: tab === 'reports' ? 'active' : null, 'data-tab': 'reports' }, '报表'));
  const body = h('div');
  fill(root, h('div', { class: 'page-head' }, h('h1', {}, '招商项目'),
    h('p', { class: 'muted' }, '项目库从线索到入统的全过程，以及向上报送的漏斗、重点项目投资完成、停滞项目和补链覆盖。金额单位：万元。')), tabs, body);
  if (tab === 'reports') return renderReports(body, ctx, q);
  return renderList(body, ctx, q);
}

// ---------------------------------------------------------------------------
// The list.

function zoneControl(value) {
  if (zones.length) {
    return h('select', { name: 'zone' }, h('option', { value: '' }, '全部片区'),
      zones.map((z) => h('option', { value: z.id, selected: z.id === value }, z.display_name || z.id)),
      value && !zones.some((z) => z.id === value) ? h('option', { value, selected: true }, value) : null);
  }
  return h('input', { name: 'zone', value, placeholder: '片区编号', size: 10 });
}

function keyLevelControl(value) {
  return h('select', { name: 'key_level' }, h('option', { value: '' }, '全部级别'),
    Object.entries(KEY_LEVEL).map(([k, v]) => h('option', { value: k, selected: k === value }, v)));
}

function renderList(body, ctx, q) {
  const stage = h('select', { name: 'stage' }, h('option', { value: '' }, '全部阶段'),
    STAGES.map(([k, v]) => h('option', { value: k, selected: k === q.stage }, v)));
  const from = h('input', { type: 'checkbox', name: 'from', checked: !!q.from });
  const status = h('select', { name: 'status' }, h('option', { value: '' }, '全部状态'),
    Object.entries(STATUS).map(([k, v]) => h('option', { value: k, selected: k === q.status }, v)));
  const zone = zoneControl(q.zone);
  const keyLevel = keyLevelControl(q.key_level);
  const keyFrom = h('input', { type: 'checkbox', name: 'key_from', checked: !!q.key_from });
  const text = h('input', { name: 'q', value: q.q, placeholder: '项目或投资方名称，投资方信用代码，或条件如 owner = 王芳', class: 'pj-q' });
  const read = () => ({
    stage: stage.value, from: stage.value && from.checked ? '1' : '', status: status.value, zone: zone.value.trim(),
    key_level: keyLevel.value, key_from: keyLevel.value && keyFrom.checked ? '1' : '', department: q.department, q: text.value.trim(),
  });
  const go = (next) => { location.hash = listHref(next); };
  const form = h('form', { class: 'toolbar filters', onsubmit: (e) => { e.preventDefault(); go(read()); } },
    field('阶段', stage), h('label', { class: 'inline-check' }, from, '及以后'),
    field('状态', status), field('片区', zone),
    field('重点级别', keyLevel), h('label', { class: 'inline-check' }, keyFrom, '及以上'),
    field('条件', text),
    h('button', { type: 'submit' }, '查询'),
    h('button', { type: 'button', class: 'secondary', onclick: () => go({}) }, '重置'));
  for (const el of [stage, status, keyLevel, from, keyFrom]) el.addEventListener('change', () => go(read()));
  if (zone.tagName === 'SELECT') zone.addEventListener('change', () => go(read()));

  const filter = buildFilter(q);
  const funnelBox = h('div', { id: 'project-funnel', class: 'stage-strip-box' });
  const listBox = h('div', { id: 'projects' });
  fill(body,
    h('section', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', {}, '项目阶段'),
      h('span', { class: 'muted' }, '大数字：推进中、停在该阶段的项目；条形与“累计”：曾到达或超过该阶段的项目（含暂缓、流失）。点击筛选下表。')), funnelBox),
    h('section', { class: 'card' }, form,
      q.department ? h('div', { class: 'notice' }, `仅部门：${q.department} `, h('a', { href: listHref({ ...q, department: '' }) }, '取消')) : null,
      filter ? h('p', { class: 'muted filter-line' }, '筛选条件：', h('code', {}, filter)) : null,
      listBox));

  load(funnelBox, async () => {
    const f = await ctx.call('ProjectService', 'GetProjectFunnel', { filter: buildFilter(q, { withStage: false }) });
    return stageStrip(f, q);
  });

  const cols = [
    { title: '项目名称 NAME', get: (p) => projectLink(p.name, p.display_name), text: (p) => p.display_name },
    { title: '投资方 INVESTOR', get: (p) => (p.investor_enterprise ? firmLink(p.investor_enterprise, p.investor_name) : p.investor_name), text: (p) => p.investor_name },
    { title: '阶段 STAGE', get: (p) => stageTag(p.stage), text: (p) => stageName(p.stage) },
    { title: '状态 STATUS', get: statusTag, text: (p) => statusName(p.status) },
    { title: '计划投资(万元) AMOUNT', class: 'num', get: (p) => wanCell(p.planned_investment_wan), text: (p) => wanText(p.planned_investment_wan) },
    { title: '签约额(万元) AMOUNT', class: 'num', get: (p) => wanCell(p.contracted_amount_wan), text: (p) => wanText(p.contracted_amount_wan) },
    { title: '片区 ZONE', get: (p) => zoneName(p.promotion_zone) },
    { title: '级别 KEY LEVEL', get: (p) => (bare(p.key_level, 'KEY_LEVEL_') === 'NONE' ? '' : keyLevelName(p.key_level)) },
    { title: '负责人 OWNER', get: (p) => p.owner },
    { title: '阶段日期 STAGE DATE', get: (p) => p.stage_date },
  ];
  fill(listBox, pagedTable({
    title: '招商项目',
    columns: cols,
    pageSize: 50,
    empty: '没有符合条件的项目',
    fetchPage: async (pageToken, pageSize) => {
      const r = await ctx.call('ProjectService', 'ListProjects', { filter, page_size: pageSize, page_token: pageToken });
      return { rows: r.projects, next: r.next_page_token, total: Number(r.total_size) };
    },
  }));
}

/** Ten stage tiles: active at the stage (big), reached (bar); each filters the list. */
function stageStrip(f, q) {
  const o = f.overall || { stages: [], on_hold: 0, lost: 0, total: 0 };
  const top = Math.max(1, ...o.stages.map((s) => s.reached));
  const base = { zone: q.zone, key_level: q.key_level, key_from: q.key_from, department: q.department, q: q.q };
  const tiles = o.stages.map((s) => {
    const k = stageKey(s.stage);
    const bar = h('span', { class: 'fill' });
    bar.style.width = `${(100 * s.reached) / top}%`;
    const active = q.stage === k;
    return h('div', { class: `stage-tile p${stageIndex(s.stage)}${active ? ' active' : ''}`, dataset: { stage: k } },
      h('span', { class: 'name' }, stageName(s.stage)),
      h('a', { class: 'n', href: listHref({ ...base, stage: k, status: 'ACTIVE' }), title: `推进中、停在${stageName(s.stage)}的项目` }, fmtNum(s.count)),
      h('span', { class: 'bar' }, bar),
      h('a', { class: 'reached', href: listHref({ ...base, stage: k, from: '1' }), title: `到达或超过${stageName(s.stage)}的项目` }, `累计 ${fmtNum(s.reached)}`));
  });
  return h('div', {},
    h('div', { class: 'stage-strip' }, tiles),
    h('div', { class: 'strip-foot' },
      h('a', { href: listHref({ ...base, status: 'ON_HOLD' }), class: 'chip st-hold' }, `暂缓 ${fmtNum(o.on_hold)}`),
      h('a', { href: listHref({ ...base, status: 'LOST' }), class: 'chip st-lost' }, `流失 ${fmtNum(o.lost)}`),
      h('a', { href: listHref(base), class: 'chip' }, `合计 ${fmtNum(o.total)}`),
      h('span', { class: 'muted' }, `截至 ${f.as_of}`)));
}

// ---------------------------------------------------------------------------
// One project.

async function renderProject(root, ctx, id) {
  const name = `projects/${id}`;
  const body = h('div');
  fill(root, h('a', { href: '#/projects', class: 'back' }, '← 招商项目'), body);
  await load(body, async () => {
    const [p, inv] = await Promise.all([
      ctx.call('ProjectService', 'GetProject', { name }),
      ctx.call('ProjectService', 'ListProjectInvestments', { parent: name }).catch((e) => e),
    ]);
    return projectView(ctx, p, inv, () => renderProject(root, ctx, id));
  });
}

/** The date each stage was last stepped to (events not voided), with the project's own dates. */
function stageDates(p) {
  const dates = {};
  for (const e of p.events || []) {
    if (bare(e.kind, 'PROJECT_EVENT_KIND_') === 'STEP' && !e.voided) dates[stageKey(e.stage)] = e.date;
  }
  const own = { LEAD: p.lead_date, SIGNED: p.signed_date, REGISTERED: p.registered_date, LAND: p.land_date, CONSTRUCTION: p.construction_date, PRODUCTION: p.production_date, STATISTICS: p.statistics_date };
  for (const [k, v] of Object.entries(own)) if (v) dates[k] = v;
  return dates;
}

function stepper(p) {
  const cur = stageIndex(p.stage);
  const dates = stageDates(p);
  const st = bare(p.status, 'PROJECT_STATUS_');
  return h('ol', { class: `stepper ${st === 'ACTIVE' ? '' : `st-${st.toLowerCase()}`}` },
    STAGES.map(([k, v], i) => h('li', { class: i < cur ? 'done' : i === cur ? 'current' : '' },
      h('span', { class: 'dot' }, String(i + 1)), h('span', { class: 'label' }, v), h('span', { class: 'date' }, i <= cur ? dates[k] || '' : ''))));
}

function projectView(ctx, p, inv, reload) {
  const pairs = [
    ['项目编号', h('code', {}, projectId(p.name))],
    ['投资方', [p.investor_name, p.investor_credit_code ? h('code', { class: 'muted' }, ` ${p.investor_credit_code}`) : null,
      p.investor_enterprise ? h('span', {}, ' · ', firmLink(p.investor_enterprise, p.investor_enterprise_display_name || codeOf(p.investor_enterprise))) : null]],
    ['项目公司', p.enterprise ? firmLink(p.enterprise, p.enterprise_display_name || codeOf(p.enterprise)) : ''],
    ['行业', p.industry_code ? `${p.industry_code} ${p.industry_name}` : ''],
    ['产业链环节', p.chain_segment],
    ['补链缺口', p.chain_gap],
    ['计划总投资', Number(p.planned_investment_wan) ? `${wan(p.planned_investment_wan)} 万元${Number(p.planned_fixed_asset_wan) ? `（固定资产 ${wan(p.planned_fixed_asset_wan)} 万元）` : ''}` : ''],
    ['签约', p.signed_date ? `${p.signed_date}，${wan(p.contracted_amount_wan)} 万元` : ''],
    ['来源地', p.source_region_code ? `${p.source_region_name || ''} ${p.source_region_code}` : ''],
    ['片区', p.promotion_zone ? h('a', { href: listHref({ zone: p.promotion_zone }) }, zoneName(p.promotion_zone)) : ''],
    ['线索来源', [leadSourceName(p.lead_source), p.lead_alliance_id ? ` · 联盟 ${p.lead_alliance_id}` : '', p.lead_credit_code ? h('span', {}, ' · ', firmLink(p.lead_credit_code)) : null]],
    ['包抓部门', p.department ? h('a', { href: listHref({ department: p.department }) }, p.department) : ''],
    ['负责人', p.owner],
    ['服务专员', p.service_commissioner],
    ['重点级别', keyLevelName(p.key_level)],
    ['标签', (p.tags || []).map((t) => h('span', { class: 'tag' }, t))],
    ['手续办结', p.approvals_date],
    ['靶向目标', p.target],
    ['备注', p.notes],
    ['登记 (UTC+8)', fmtTime(p.create_time)],
    ['更新 (UTC+8)', fmtTime(p.update_time)],
  ].filter(([, v]) => (Array.isArray(v) ? v.some((x) => x) : v));
  const st = bare(p.status, 'PROJECT_STATUS_');
  const banner = p.delete_time
    ? h('div', { class: 'error' }, `项目已于 ${fmtTime(p.delete_time)} 删除：${p.delete_reason || ''}`)
    : st === 'LOST' ? h('div', { class: 'error' }, `项目已流失${lossName(p.loss_reason) ? `：${lossName(p.loss_reason)}` : ''}。`)
      : st === 'ON_HOLD' ? h('div', { class: 'warnbox' }, '项目暂缓中：恢复推进前不能记录新的阶段。') : null;

  return h('div', { class: 'project-view', dataset: { project: p.name } },
    h('div', { class: 'project-head' },
      h('h1', {}, p.display_name),
      h('div', { class: 'head-tags' }, stageTag(p.stage), statusTag(p),
        bare(p.key_level, 'KEY_LEVEL_') !== 'NONE' && keyLevelName(p.key_level) ? h('span', { class: 'tag key' }, `${keyLevelName(p.key_level)}重点`) : null,
        p.stage_date ? h('span', { class: 'muted' }, `${stageName(p.stage)}于 ${p.stage_date}`) : null)),
    banner,
    h('section', { class: 'card' }, stepper(p)),
    h('div', { class: 'grid detail-grid' },
      section('项目信息', h('dl', { class: 'record' }, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('div', { class: 'side' },
        h('div', { class: 'kpis' },
          kpi(wan(p.planned_investment_wan), '计划总投资（万元）'),
          kpi(Number(p.contracted_amount_wan) ? wan(p.contracted_amount_wan) : '—', '签约额（万元）'),
          kpi(String((p.events || []).length), '进程事件')),
        stepForm(ctx, p, reload))),
    section('项目进程 HISTORY', eventsTable(p)),
    section('投资完成 INVESTMENT', inv instanceof Error ? errorBox(inv) : investmentsTable(p, inv.investments || [])));
}

function kpi(n, label) {
  return h('div', { class: 'kpi' }, h('span', { class: 'n' }, n), h('span', { class: 'l' }, label));
}

function eventsTable(p) {
  const events = p.events || [];
  const cols = [
    { title: '日期 DATE', get: (e) => e.date },
    {
      title: '事件 EVENT',
      get: (e) => h('span', {}, h('span', { class: `ev ev-${bare(e.kind, 'PROJECT_EVENT_KIND_').toLowerCase()}` }, kindName(e.kind)), e.voided ? h('span', { class: 'tag voided-tag' }, '已更正作废') : null),
      text: (e) => `${kindName(e.kind)}${e.voided ? '（已更正作废）' : ''}`,
    },
    { title: '阶段 STAGE', get: (e) => stageName(e.stage) },
    { title: '金额(万元) AMOUNT', class: 'num', get: (e) => wanCell(e.amount_wan), text: (e) => wanText(e.amount_wan) },
    { title: '企业 ENTERPRISE', get: (e) => (e.enterprise ? firmLink(e.enterprise) : ''), text: (e) => codeOf(e.enterprise) },
    { title: '原因/备注 REASON/NOTE', class: 'wrap', get: (e) => [lossName(e.loss_reason), e.reason, e.note].filter(Boolean).join('：') },
    { title: '经办 BY', get: (e) => e.actor },
    { title: '记录时间 RECORDED (UTC+8)', get: (e) => fmtTime(e.record_time) },
  ];
  // Newest first reads best; the export keeps the same order.
  const rows = [...events].reverse();
  const t = table(cols, rows, { empty: '没有事件', class: 'events' });
  t.querySelectorAll('tbody tr').forEach((tr, i) => { if (rows[i] && rows[i].voided) tr.classList.add('voided'); });
  return h('div', {},
    h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, '最新在前。更正会把之后的推进、暂缓、恢复、流失标为作废（划线），但保留在历史中。'),
      h('span', { class: 'spacer' }), exportButton(`项目进程 ${p.display_name}`, cols, () => rows)),
    t);
}

function investmentsTable(p, items) {
  const monthly = (i) => (i.monthly || []).filter((m) => m.completed_wan !== undefined && m.completed_wan !== null)
    .map((m) => `${m.month}月 ${wan(m.completed_wan)}`).join('；');
  const rate = (i) => (Number(i.planned_wan) > 0 ? pct((100 * Number(i.completed_wan)) / Number(i.planned_wan)) : '');
  const cols = [
    { title: '年度 YEAR', get: (i) => String(i.year) },
    { title: '年计划(万元) AMOUNT', class: 'num', get: (i) => (i.planned_wan !== undefined && i.planned_wan !== null ? wan(i.planned_wan) : ''), text: (i) => (i.planned_wan ?? '') === '' ? '' : String(i.planned_wan) },
    { title: '已完成(万元) AMOUNT', class: 'num', get: (i) => wan(i.completed_wan), text: (i) => String(i.completed_wan) },
    {
      title: '完成率 RATE', class: 'num',
      get: (i) => { const r = rate(i); return r ? h('span', { class: Number(i.completed_wan) > Number(i.planned_wan) ? 'warn' : '' }, r) : ''; },
      text: rate,
    },
    { title: '计划办结日期 APPROVALS DATE', get: (i) => i.planned_approvals_date },
    { title: '计划开工日期 CONSTRUCTION DATE', get: (i) => i.planned_construction_date },
    { title: '计划入统日期 STATISTICS DATE', get: (i) => i.planned_statistics_date },
    { title: '来源 SOURCE', get: (i) => i.source },
    { title: '月度完成(万元) MONTHLY', class: 'wrap', get: monthly },
  ];
  return h('div', {},
    h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, '最新年度在前；完成超过年计划的标为橙色。'), h('span', { class: 'spacer' }),
      exportButton(`投资完成 ${p.display_name}`, cols, () => items)),
    table(cols, items, { empty: '没有年度投资数据（ladder project plan / invest 录入）' }));
}

/** Record the next step (editors): a STEP to a stage ahead, not skipping SIGNED or REGISTERED. */
function stepForm(ctx, p, reload) {
  if (!ctx.who.may_write) return null;
  const st = bare(p.status, 'PROJECT_STATUS_');
  const cur = stageIndex(p.stage);
  const card = (...c) => h('section', { class: 'card step-card' }, h('h2', {}, '记录进展'), ...c);
  if (p.delete_time) return null;
  if (cur === STAGES.length - 1) return card(h('p', { class: 'muted' }, '项目已入统，全部阶段已完成。'));
  if (st !== 'ACTIVE') return card(h('p', { class: 'muted' }, `项目${statusName(p.status)}中：恢复推进后才能记录新阶段（ladder project resume）。`));
  const options = [];
  for (let i = cur + 1; i < STAGES.length; i++) {
    options.push(STAGES[i]);
    if (STAGES[i][0] === 'SIGNED' || STAGES[i][0] === 'REGISTERED') break;
  }
  const stage = h('select', { id: 'step-stage' }, options.map(([k, v]) => h('option', { value: k }, v)));
  const date = h('input', { type: 'date', id: 'step-date', value: todayCst(), max: todayCst(), min: p.stage_date || null, required: true });
  const amount = h('input', { type: 'number', id: 'step-amount', min: '0', step: '0.01', placeholder: '万元' });
  const firm = h('input', { id: 'step-enterprise', placeholder: '18 位统一社会信用代码', maxlength: 18, spellcheck: 'false' });
  const note = h('input', { id: 'step-note', maxlength: 500, placeholder: '可选' });
  const amountField = field('签约额(万元)', amount);
  const firmField = field('项目公司信用代码', firm, '须是已在系统中的企业');
  const out = h('div');
  const sync = () => {
    amountField.hidden = stage.value !== 'SIGNED';
    firmField.hidden = stage.value !== 'REGISTERED';
    amount.required = stage.value === 'SIGNED';
    firm.required = stage.value === 'REGISTERED';
  };
  stage.addEventListener('change', sync);
  sync();
  const submit = h('button', { type: 'submit' }, '记录');
  const form = h('form', { class: 'step-form', onsubmit: async (e) => {
    e.preventDefault();
    const event = { kind: 'PROJECT_EVENT_KIND_STEP', stage: `PROJECT_STAGE_${stage.value}`, date: date.value, note: note.value.trim() };
    if (stage.value === 'SIGNED') event.amount_wan = Number(amount.value || 0);
    if (stage.value === 'REGISTERED') event.enterprise = `enterprises/${firm.value.trim().toUpperCase()}`;
    submit.disabled = true;
    fill(out);
    try {
      await ctx.call('ProjectService', 'RecordProjectEvent', { name: p.name, event, etag: p.etag });
      toast(`已记录：${stageName(event.stage)}`, 'info');
      reload();
    } catch (err) {
      fill(out, errorBox(err));
      submit.disabled = false;
    }
  } },
  h('div', { class: 'form-grid' }, field('推进到', stage, options.length < STAGES.length - 1 - cur ? '不能跳过签约和注册落地' : null), field('日期', date), amountField, firmField, field('备注', note)),
  h('div', { class: 'toolbar' }, submit, h('span', { class: 'muted' }, `当前：${stageName(p.stage)}${p.stage_date ? `（${p.stage_date}）` : ''}`)),
  out);
  return card(form);
}

// ---------------------------------------------------------------------------
// Reports.

function renderReports(body, ctx, q) {
  const year = Number(ctx.query.get('year')) || Number(todayCst().slice(0, 4));
  const by = ctx.query.get('by') || '';
  const zone = zoneControl(q.zone);
  const keyLevel = keyLevelControl(q.key_level);
  const groupBy = h('select', { name: 'by' }, GROUP_BY.map(([k, v]) => h('option', { value: k, selected: k === by }, v)));
  const yearInput = h('input', { type: 'number', name: 'year', value: String(year), min: 2000, max: Number(todayCst().slice(0, 4)), class: 'year' });
  const go = () => {
    const p = new URLSearchParams({ tab: 'reports' });
    if (zone.value.trim()) p.set('zone', zone.value.trim());
    if (keyLevel.value) p.set('key_level', keyLevel.value);
    if (groupBy.value) p.set('by', groupBy.value);
    if (yearInput.value && Number(yearInput.value) !== Number(todayCst().slice(0, 4))) p.set('year', yearInput.value);
    location.hash = `#/projects?${p}`;
  };
  const form = h('form', { class: 'toolbar filters', onsubmit: (e) => { e.preventDefault(); go(); } },
    field('片区', zone), field('重点级别', keyLevel), field('分组', groupBy), field('投资年度', yearInput),
    h('button', { type: 'submit' }, '更新报表'));
  for (const el of [keyLevel, groupBy]) el.addEventListener('change', go);
  if (zone.tagName === 'SELECT') zone.addEventListener('change', go);

  const filter = buildFilter({ zone: q.zone, key_level: q.key_level }, { withStage: false });
  const base = { zone: q.zone, key_level: q.key_level };
  const funnelBox = h('div', { id: 'project-funnel' });
  const investBox = h('div', { id: 'investment-report' });
  const stalledBox = h('div', { id: 'stalled-projects' });
  const gapsBox = h('div', { id: 'chain-gap-coverage' });
  fill(body,
    h('section', { class: 'card' }, form, filter ? h('p', { class: 'muted filter-line' }, '筛选条件：', h('code', {}, filter)) : null),
    section('项目漏斗 FUNNEL', funnelBox),
    section(`${year} 年重点项目投资完成 INVESTMENT`, investBox),
    section('停滞项目 STALLED', stalledBox),
    section('补链覆盖 CHAIN GAPS', gapsBox));

  const groupFilter = (key) => {
    switch (by) {
      case 'ZONE': return key ? { zone: key } : null;
      case 'KEY_LEVEL': return key ? { key_level: key } : null;
      case 'DEPARTMENT': return key ? { department: key } : null;
      default: return null;
    }
  };

  load(funnelBox, async () => {
    const f = await ctx.call('ProjectService', 'GetProjectFunnel', { filter, group_by: by ? `PROJECT_GROUP_BY_${by}` : 'PROJECT_GROUP_BY_UNSPECIFIED' });
    return funnelReport(f, base, by, groupFilter);
  });
  load(investBox, async () => {
    const groupByInvest = by ? `PROJECT_GROUP_BY_${by}` : 'PROJECT_GROUP_BY_UNSPECIFIED';
    const r = await ctx.call('ProjectService', 'GetInvestmentReport', { year, filter, group_by: groupByInvest });
    return investmentReport(r, by, groupFilter, base);
  });
  load(stalledBox, async () => {
    const r = await ctx.call('ProjectService', 'ListStalledProjects', { filter, page_size: 200 });
    return stalledReport(r);
  });
  load(gapsBox, async () => {
    const r = await ctx.call('ProjectService', 'GetChainGapCoverage', {});
    return gapReport(r);
  });
}

function groupLabel(g, by) {
  if (!g.key && !g.label) return '（未填）';
  if (by === 'ZONE') return zoneName(g.key) || g.label || g.key;
  if (by === 'KEY_LEVEL') return keyLevelName(g.key) || g.label || g.key;
  if (by === 'LEAD_SOURCE') return leadSourceName(g.key) || g.label || g.key;
  return g.label || g.key;
}

function funnelReport(f, base, by, groupFilter) {
  const o = f.overall || { stages: [], on_hold: 0, lost: 0, total: 0 };
  const top = Math.max(1, ...o.stages.map((s) => s.reached));
  const rows = o.stages.map((s, i) => ({ ...s, prev: i ? o.stages[i - 1].reached : null }));
  const cols = [
    { title: '阶段 STAGE', get: (s) => stageTag(s.stage), text: (s) => stageName(s.stage) },
    { title: '当前数 AT STAGE', class: 'num', get: (s) => h('a', { href: listHref({ ...base, stage: stageKey(s.stage), status: 'ACTIVE' }) }, fmtNum(s.count)), text: (s) => String(s.count) },
    { title: '累计到达数 REACHED', class: 'num', get: (s) => h('a', { href: listHref({ ...base, stage: stageKey(s.stage), from: '1' }) }, fmtNum(s.reached)), text: (s) => String(s.reached) },
    { title: '转化率 RATE', class: 'num', get: (s) => (s.prev ? pct((100 * s.reached) / s.prev) : ''), text: (s) => (s.prev ? pct((100 * s.reached) / s.prev) : '') },
    {
      title: '漏斗 FUNNEL', class: 'bar-cell',
      get: (s) => { const b = h('span', { class: `fill p${stageIndex(s.stage)}` }); b.style.width = `${(100 * s.reached) / top}%`; return h('span', { class: 'hbar' }, b); },
      text: () => '',
    },
  ];
  const parts = [
    h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, `截至 ${f.as_of}。当前数：推进中、停在该阶段的项目；累计到达：曾到达或超过该阶段的项目（含暂缓、流失）；转化率：到达本阶段 / 到达上一阶段。`),
      h('span', { class: 'spacer' }), exportButton('项目漏斗', cols.filter((c) => c.title !== '漏斗 FUNNEL'), () => rows)),
    table(cols, rows, { class: 'funnel-table' }),
    h('div', { class: 'strip-foot' },
      h('a', { href: listHref({ ...base, status: 'ON_HOLD' }), class: 'chip st-hold' }, `暂缓 ${fmtNum(o.on_hold)}`),
      h('a', { href: listHref({ ...base, status: 'LOST' }), class: 'chip st-lost' }, `流失 ${fmtNum(o.lost)}`),
      h('a', { href: listHref(base), class: 'chip' }, `合计 ${fmtNum(o.total)}`)),
  ];
  if (f.groups && f.groups.length) {
    const gcols = [
      {
        title: '分组 GROUP',
        get: (g) => { const extra = groupFilter(g.key); return extra ? h('a', { href: listHref({ ...base, ...extra }) }, groupLabel(g, by)) : groupLabel(g, by); },
        text: (g) => groupLabel(g, by),
      },
      ...o.stages.map((s, i) => ({
        title: `${stageName(s.stage)} ${stageKey(s.stage)} COUNT`, class: 'num',
        get: (g) => String((g.stages.find((x) => x.stage === s.stage) || { reached: 0 }).reached),
        _i: i,
      })),
      { title: '暂缓数 ON HOLD', class: 'num', get: (g) => String(g.on_hold) },
      { title: '流失数 LOST', class: 'num', get: (g) => String(g.lost) },
      { title: '合计数 TOTAL', class: 'num', get: (g) => String(g.total) },
    ];
    parts.push(h('div', { class: 'toolbar group-head' }, h('h3', {}, '各组累计到达'), h('span', { class: 'spacer' }), exportButton('项目漏斗分组', gcols, () => f.groups)),
      table(gcols, f.groups, { class: 'groups-table' }));
  }
  return h('div', {}, parts);
}

function rateLine(name, r) {
  r = r || { planned: 0, reached: 0, percent: 0 };
  return { name, planned: r.planned, reached: r.reached, percent: r.planned ? pct(r.percent) : '—' };
}

function investmentReport(r, by, groupFilter, base) {
  const o = r.overall || { projects: 0, planned_wan: 0, completed_wan: 0, completed_yi: 0, completion_percent: 0, overrun: 0 };
  const lineCols = [
    {
      title: '分组 GROUP',
      get: (g) => { if (g.total) return h('strong', {}, '合计'); const extra = groupFilter(g.key); return extra ? h('a', { href: listHref({ ...base, ...extra }) }, groupLabel(g, by)) : groupLabel(g, by); },
      text: (g) => (g.total ? '合计' : groupLabel(g, by)),
    },
    { title: '项目数 PROJECTS COUNT', class: 'num', get: (g) => fmtNum(g.projects), text: (g) => String(g.projects) },
    { title: '年计划(万元) AMOUNT', class: 'num', get: (g) => wan(g.planned_wan), text: (g) => String(g.planned_wan) },
    { title: '累计完成(万元) AMOUNT', class: 'num', get: (g) => wan(g.completed_wan), text: (g) => String(g.completed_wan) },
    { title: '累计完成(亿元) AMOUNT YI', class: 'num', get: (g) => Number(g.completed_yi).toFixed(2), text: (g) => String(g.completed_yi) },
    { title: '完成率 RATE', class: 'num', get: (g) => pct(g.completion_percent) },
    { title: '超计划数 OVERRUN COUNT', class: 'num', get: (g) => (g.overrun ? h('span', { class: 'warn' }, String(g.overrun)) : '0'), text: (g) => String(g.overrun) },
  ];
  const lines = [{ ...o, total: true }, ...(r.groups || [])];
  const rates = [rateLine('手续办结率', r.approvals_rate), rateLine('项目开工率', r.construction_rate), rateLine('统计入库率', r.statistics_rate)];
  const rateCols = [
    { title: '比率 NAME', get: (x) => x.name },
    { title: '计划数 PLANNED COUNT', class: 'num', get: (x) => String(x.planned) },
    { title: '完成数 REACHED COUNT', class: 'num', get: (x) => String(x.reached) },
    { title: '比率 RATE', class: 'num', get: (x) => x.percent },
  ];
  const behindCols = [
    { title: '项目名称 NAME', get: (b) => projectLink(b.project, b.display_name), text: (b) => b.display_name },
    { title: '年计划(万元) AMOUNT', class: 'num', get: (b) => wan(b.planned_wan), text: (b) => String(b.planned_wan) },
    { title: '累计完成(万元) AMOUNT', class: 'num', get: (b) => wan(b.completed_wan), text: (b) => String(b.completed_wan) },
    { title: '应完成(万元) AMOUNT', class: 'num', get: (b) => wan(b.expected_wan), text: (b) => String(b.expected_wan) },
    { title: '差额(万元) AMOUNT', class: 'num', get: (b) => h('span', { class: 'bad' }, wan(Number(b.expected_wan) - Number(b.completed_wan))), text: (b) => String(Math.round((Number(b.expected_wan) - Number(b.completed_wan)) * 100) / 100) },
    { title: '完成率 RATE', class: 'num', get: (b) => pct(b.completion_percent) },
  ];
  const bar = h('span', { class: 'fill' });
  bar.style.width = `${Math.min(100, Number(o.completion_percent))}%`;
  return h('div', {},
    r.summary ? h('p', { class: 'summary', id: 'investment-summary' }, r.summary) : null,
    h('div', { class: 'kpis' },
      kpi(fmtNum(o.projects), '有年度计划的项目'),
      kpi(wan(o.planned_wan), '年计划投资（万元）'),
      kpi(`${Number(o.completed_yi).toFixed(2)} 亿元`, `累计完成（${wan(o.completed_wan)} 万元）`),
      h('div', { class: 'kpi' }, h('span', { class: 'n' }, pct(o.completion_percent)), h('span', { class: 'l' }, `完成率（截至 ${r.as_of}）`), h('span', { class: 'hbar' }, bar))),
    h('div', { class: 'grid report-grid' },
      h('div', {}, h('div', { class: 'toolbar' }, h('h3', {}, '投资完成'), h('span', { class: 'spacer' }), exportButton(`${r.year}年项目投资完成`, lineCols, () => lines)),
        table(lineCols, lines, { class: 'lines-table' })),
      h('div', {}, h('div', { class: 'toolbar' }, h('h3', {}, '手续、开工、入统'), h('span', { class: 'spacer' }), exportButton(`${r.year}年办结开工入统率`, rateCols, () => rates)),
        table(rateCols, rates),
        h('p', { class: 'muted small' }, '计划数：年度计划中该步骤截至当日应完成的项目；完成数：其中已完成的。'))),
    h('div', { class: 'toolbar' }, h('h3', {}, `滞后于计划 ${r.behind_plan.length ? `（${r.behind_plan.length}）` : ''}`),
      h('span', { class: 'muted' }, '按线性进度：年计划 × 已过月份 / 12'), h('span', { class: 'spacer' }),
      r.behind_plan.length ? exportButton(`${r.year}年滞后项目`, behindCols, () => r.behind_plan) : null),
    table(behindCols, r.behind_plan || [], { empty: '没有滞后于计划的项目' }));
}

function stalledReport(r) {
  const cols = [
    { title: '项目名称 NAME', get: (s) => projectLink(s.project.name, s.project.display_name), text: (s) => s.project.display_name },
    { title: '阶段 STAGE', get: (s) => stageTag(s.project.stage), text: (s) => stageName(s.project.stage) },
    { title: '阶段日期 STAGE DATE', get: (s) => s.project.stage_date },
    { title: '停滞天数 IDLE DAYS', class: 'num', get: (s) => h('strong', { class: s.days_idle > 2 * s.threshold_days ? 'bad' : 'warn' }, String(s.days_idle)), text: (s) => String(s.days_idle) },
    { title: '阈值天数 THRESHOLD DAYS', class: 'num', get: (s) => String(s.threshold_days) },
    { title: '片区 ZONE', get: (s) => zoneName(s.project.promotion_zone) },
    { title: '部门 DEPARTMENT', get: (s) => s.project.department },
    { title: '负责人 OWNER', get: (s) => s.project.owner },
  ];
  const items = (r.projects || []).filter((s) => s.project);
  const SHOWN = 15;
  const t = table(cols, items, { empty: '没有停滞的项目' });
  const hidden = [...t.querySelectorAll('tbody tr')].slice(SHOWN);
  hidden.forEach((tr) => { tr.hidden = true; });
  const more = hidden.length
    ? h('button', { type: 'button', class: 'secondary show-all', onclick: () => { hidden.forEach((tr) => { tr.hidden = false; }); more.remove(); } }, `显示全部 ${items.length} 个`)
    : null;
  return h('div', {},
    h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, `推进中、超过所在阶段阈值天数没有推进的项目，停滞最久在前。共 ${fmtNum(r.total_size)} 个${r.total_size > items.length ? `，列出前 ${items.length} 个` : ''}。`),
      h('span', { class: 'spacer' }), exportButton('停滞项目', cols, () => items)),
    t, more);
}

function gapReport(c) {
  const cols = (covered) => [
    { title: '行业 INDUSTRY', get: (g) => h('span', {}, h('code', {}, g.industry_code), ' ', g.industry_name), text: (g) => `${g.industry_code} ${g.industry_name}` },
    { title: '开放需求数 DEMANDS', class: 'num', get: (g) => String(g.open_demands) },
    { title: '需求额(万元) AMOUNT', class: 'num', get: (g) => wanCell(g.open_demand_amount_wan), text: (g) => wanText(g.open_demand_amount_wan) },
    ...(covered ? [
      { title: '计划投资(万元) AMOUNT', class: 'num', get: (g) => wanCell(g.planned_investment_wan), text: (g) => wanText(g.planned_investment_wan) },
      { title: '项目 PROJECTS', class: 'wrap', get: (g) => g.projects.map((p) => projectLink(p)), text: (g) => g.projects.map(projectId).join('、') },
    ] : []),
  ];
  const withLinks = (t) => { t.querySelectorAll('td.wrap').forEach((td) => td.classList.add('links')); return t; };
  return h('div', {},
    h('p', { class: 'muted' }, '缺链：有开放需求而区内没有供给的行业类别（同供需对接的缺链）。已覆盖：有推进中的项目以该类别为补链目标。'),
    h('div', { class: 'grid gap-grid' },
      h('div', {}, h('div', { class: 'toolbar' }, h('h3', {}, `未覆盖的缺链（${c.uncovered.length}）`), h('span', { class: 'spacer' }), exportButton('未覆盖的缺链', cols(false), () => c.uncovered)),
        table(cols(false), c.uncovered, { empty: '没有未覆盖的缺链' })),
      h('div', {}, h('div', { class: 'toolbar' }, h('h3', {}, `已有项目覆盖（${c.covered.length}）`), h('span', { class: 'spacer' }), exportButton('已覆盖的缺链', cols(true), () => c.covered)),
        withLinks(table(cols(true), c.covered, { empty: '还没有项目以缺链为补链目标' })))));
}
