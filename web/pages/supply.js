// 供需对接: postings (供需信息) with their filters, a posting's page with its
// explainable match suggestions (every factor's points and reason), matches
// (对接) and a match's steps, the supply–demand map (SVG from the server,
// panned and zoomed here), chain gaps (缺链) and the local sourcing rate
// (本地配套率).
//
// Routes: #/supply?tab=postings|matches|map|gaps, #/supply/postings/{id},
// #/supply/matches/{id}.

import { mapSvg } from '../api.js';
import {
  h, fill, fmtTime, todayCst, fmtNum, firmLink, errorBox, load, toast, table, exportButton, field, section, setRouteQuery, routeQuery, MAX_EXPORT_ROWS, pagedTable,
} from '../ui.js';

const CSS = '/assets/pages/supply.css';
if (!document.querySelector(`link[href="${CSS}"]`)) {
  document.head.append(h('link', { rel: 'stylesheet', href: CSS }));
}

// ---- enum labels -------------------------------------------------------

const POSTING_KINDS = { POSTING_KIND_SUPPLY: '供给', POSTING_KIND_DEMAND: '需求' };
const POSTING_STATES = { POSTING_STATE_OPEN: '有效', POSTING_STATE_CLOSED: '已关闭', POSTING_STATE_EXPIRED: '已过期' };
const SOURCE_LISTS = {
  SOURCE_LIST_DEMAND: '需求清单', SOURCE_LIST_SUPPLY: '供给清单',
  SOURCE_LIST_PROCUREMENT: '采购清单', SOURCE_LIST_COLLABORATION: '协作机会清单',
};
const POSTING_CLOSE_REASONS = {
  POSTING_CLOSE_REASON_FULFILLED: '已满足', POSTING_CLOSE_REASON_WITHDRAWN: '撤回',
  POSTING_CLOSE_REASON_MISTAKE: '误录', POSTING_CLOSE_REASON_OTHER: '其他',
};
/** Match states in the order a match moves through them. */
const STEPS = [
  ['MATCH_STATE_PROPOSED', '已推荐'],
  ['MATCH_STATE_CONTACTED', '已对接'],
  ['MATCH_STATE_NEGOTIATING', '洽谈中'],
  ['MATCH_STATE_SIGNED', '已签约'],
  ['MATCH_STATE_DELIVERED', '已交付'],
];
const MATCH_STATES = Object.fromEntries([...STEPS, ['MATCH_STATE_CLOSED', '已关闭']]);
const MATCH_CLOSE_REASONS = {
  MATCH_CLOSE_REASON_NO_FIT: '不匹配', MATCH_CLOSE_REASON_EXPIRED: '已过期', MATCH_CLOSE_REASON_WITHDRAWN: '撤回',
};
const MATCH_ORIGINS = { MATCH_ORIGIN_SUGGESTED: '系统推荐', MATCH_ORIGIN_MANUAL: '人工撮合' };
const FACTORS = {
  MATCH_FACTOR_INDUSTRY: '行业相近',
  MATCH_FACTOR_KEYWORDS: '关键词',
  MATCH_FACTOR_ALLIANCE: '同一联盟',
  MATCH_FACTOR_IN_ZONE: '园区内配套',
  MATCH_FACTOR_REGION: '地域相近',
  MATCH_FACTOR_QUANTITY: '数量/金额满足',
  MATCH_FACTOR_FRESHNESS: '发布时效',
  MATCH_FACTOR_CHAIN_SEGMENT: '同一产业链环节',
};
const FACTOR_ORDER = Object.keys(FACTORS);

const TABS = [
  ['postings', '供需信息'],
  ['matches', '对接跟踪'],
  ['map', '供需图谱'],
  ['gaps', '缺链与本地配套'],
];

const idOf = (name) => String(name || '').split('/').pop();
const postingHref = (name) => `#/supply/postings/${encodeURIComponent(idOf(name))}`;
const matchHref = (name) => `#/supply/matches/${encodeURIComponent(idOf(name))}`;
const wan = (x) => (Number(x) ? fmtNum(x, 2) : '');
const quote = (v) => `"${String(v).replace(/["\\]/g, '')}"`;

function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function kindTag(kind) {
  return h('span', { class: `tag sd-kind ${kind === 'POSTING_KIND_SUPPLY' ? 'sd-supply' : 'sd-demand'}` }, POSTING_KINDS[kind] || kind);
}
function postingStateTag(state) {
  return h('span', { class: `tag sd-pstate ${state}` }, POSTING_STATES[state] || state);
}
function matchStateTag(state) {
  return h('span', { class: `tag sd-mstate ${state}` }, MATCH_STATES[state] || state);
}
function howMuch(p) {
  const parts = [];
  if (Number(p.quantity)) parts.push(`${fmtNum(p.quantity, Number.isInteger(Number(p.quantity)) ? 0 : 2)} ${p.unit}`);
  if (Number(p.amount_wan)) parts.push(`${fmtNum(p.amount_wan, 2)} 万元`);
  return parts.join(' / ');
}

/** Alliances for the filters (a zone has a few dozen at most), read once per page. */
let alliancesPromise = null;
function alliances(ctx) {
  if (!alliancesPromise) {
    alliancesPromise = ctx.call('AllianceService', 'ListAlliances', { page_size: 1000 })
      .then((r) => r.alliances.map((a) => ({ id: idOf(a.name), name: a.display_name })))
      .catch((e) => {
        alliancesPromise = null;
        throw e;
      });
  }
  return alliancesPromise;
}
async function allianceSelect(ctx, id, value, emptyLabel) {
  const s = h('select', { id }, h('option', { value: '' }, emptyLabel));
  try {
    for (const a of await alliances(ctx)) s.append(h('option', { value: a.id }, a.name));
  } catch {
    // The filter still works with what the URL says.
  }
  if (value && ![...s.options].some((o) => o.value === value)) s.append(h('option', { value }, value));
  s.value = value || '';
  return s;
}
function options(id, value, pairs) {
  const s = h('select', { id }, pairs.map(([v, l]) => h('option', { value: v }, l)));
  s.value = value || '';
  return s;
}


// ---- routing -----------------------------------------------------------

export async function render(root, ctx) {
  alliancesPromise = null;
  const [kind, id] = ctx.parts;
  if (kind === 'postings' && id) return postingPage(root, ctx, id);
  if (kind === 'matches' && id) return matchPage(root, ctx, id);
  let tab = ctx.query.get('tab') || (TABS.some(([k]) => k === kind) ? kind : 'postings');
  if (!TABS.some(([k]) => k === tab)) tab = 'postings';
  const body = h('div', { class: 'sd-tab', 'data-tab-body': tab });
  fill(root, h('h1', {}, '供需对接'), tabs(tab), body);
  if (tab === 'postings') return postingsTab(body, ctx);
  if (tab === 'matches') return matchesTab(body, ctx);
  if (tab === 'map') return mapTab(body, ctx);
  return gapsTab(body, ctx);
}

function tabs(active) {
  return h('nav', { class: 'tabs', 'aria-label': '供需对接' },
    TABS.map(([k, l]) => h('a', { href: `#/supply?tab=${k}`, 'data-tab': k, class: k === active ? 'active' : null }, l)));
}

/** On a phone, many filters fold away behind a summary (open when any is set). */
function foldable(form, active) {
  const phone = window.matchMedia('(max-width: 760px)').matches;
  return h('details', { class: 'sd-fold', open: !phone || active || null },
    h('summary', {}, active ? `筛选条件（已设 ${active} 项）` : '筛选条件'), form);
}

/** A filter form whose values live in the route's query (so a filtered list can be shared). */
function filterForm(fields, onApply, extra) {
  const form = h('form', { class: 'toolbar sd-filters', onsubmit: (e) => {
    e.preventDefault();
    apply();
  } }, fields.map(([label, input]) => field(label, input)), h('button', { type: 'submit', class: 'secondary' }, '筛选'),
  h('button', { type: 'button', class: 'secondary', onclick: () => {
    for (const [, input] of fields) {
      if (input.type === 'checkbox') input.checked = false;
      else input.value = '';
    }
    apply();
  } }, '清除'), extra || null);
  function apply() {
    const q = routeQuery();
    for (const [, input, key] of fields) q.set(key, input.type === 'checkbox' ? (input.checked ? '1' : '') : input.value.trim());
    setRouteQuery(q);
    onApply();
  }
  for (const [, input] of fields) if (input.tagName === 'SELECT') input.addEventListener('change', apply);
  return form;
}

// ---- postings ----------------------------------------------------------

function postingColumns() {
  return [
    { title: '标题 TITLE', get: (p) => h('a', { href: postingHref(p.name), class: 'sd-title', 'data-posting': idOf(p.name) }, p.title), text: (p) => p.title },
    { title: '类型 KIND', get: (p) => kindTag(p.kind), text: (p) => POSTING_KINDS[p.kind] || p.kind },
    { title: '企业名称 NAME', get: (p) => firmLink(p.credit_code, p.enterprise_display_name || p.credit_code), text: (p) => p.enterprise_display_name },
    { title: '信用代码 CODE', get: (p) => h('code', {}, p.credit_code), text: (p) => p.credit_code },
    { title: '行业代码 INDUSTRY', class: 'sd-nw', get: (p) => p.industry_code },
    { title: '产业链环节 SEGMENT', get: (p) => p.chain_segment },
    { title: '数量 QUANTITY', class: 'num', get: (p) => (Number(p.quantity) ? `${fmtNum(p.quantity, Number.isInteger(Number(p.quantity)) ? 0 : 2)} ${p.unit}` : ''), text: (p) => (Number(p.quantity) ? `${p.quantity} ${p.unit}` : '') },
    { title: '金额(万元) AMOUNT', class: 'num', get: (p) => wan(p.amount_wan), text: (p) => (Number(p.amount_wan) ? String(p.amount_wan) : '') },
    { title: '园区内 IN ZONE', class: 'sd-nw', get: (p) => (p.in_zone ? '是' : '否') },
    { title: '有效期至 DATE', class: 'sd-nw', get: (p) => p.valid_until || h('span', { class: 'muted' }, '长期'), text: (p) => p.valid_until },
    { title: '状态 STATE', get: (p) => postingStateTag(p.state), text: (p) => POSTING_STATES[p.state] || p.state },
    { title: '发布时间 TIME (UTC+8)', class: 'sd-nw', get: (p) => fmtTime(p.create_time) },
    { title: '编号 ID', get: (p) => h('code', {}, idOf(p.name)), text: (p) => idOf(p.name) },
  ];
}

async function postingsTab(box, ctx) {
  const q = ctx.query;
  const kind = options('filter-kind', q.get('kind'), [['', '供给与需求'], ['SUPPLY', '供给'], ['DEMAND', '需求']]);
  const state = options('filter-state', q.get('state'), [['', '全部状态'], ['OPEN', '有效'], ['CLOSED', '已关闭'], ['EXPIRED', '已过期']]);
  const industry = h('input', { type: 'text', id: 'filter-industry', value: q.get('industry') || '', placeholder: '如 C38、C3841', maxlength: 8, class: 'sd-short' });
  const alliance = await allianceSelect(ctx, 'filter-alliance', q.get('alliance'), '全部可见范围');
  const segment = h('input', { type: 'text', id: 'filter-segment', value: q.get('segment') || '', placeholder: '如 卫星应用（完全一致）', maxlength: 50 });
  const code = h('input', { type: 'text', id: 'filter-code', value: q.get('code') || '', placeholder: '18 位信用代码', maxlength: 24 });
  const zone = options('filter-zone', q.get('zone'), [['', '全部'], ['true', '园区内'], ['false', '园区外']]);
  const list = options('filter-list', q.get('list'), [['', '全部清单'], ...Object.entries(SOURCE_LISTS).map(([k, l]) => [k.replace('SOURCE_LIST_', ''), l])]);
  const tableBox = h('div');
  const draw = () => {
    const cond = [];
    if (kind.value) cond.push(`kind = ${kind.value}`);
    if (state.value) cond.push(`state = ${state.value}`);
    if (industry.value.trim()) cond.push(`industry_code = ${quote(industry.value.trim().toUpperCase())}`);
    if (alliance.value) cond.push(`visibility_alliance_id = ${quote(alliance.value)}`);
    if (segment.value.trim()) cond.push(`chain_segment = ${quote(segment.value.trim())}`);
    if (code.value.trim()) cond.push(`credit_code = ${quote(code.value.trim().toUpperCase())}`);
    if (zone.value) cond.push(`in_zone = ${zone.value}`);
    if (list.value) cond.push(`source_list = ${list.value}`);
    const filter = cond.join(' AND ');
    fill(tableBox, pagedTable({
      id: 'postings',
      title: '供需信息',
      columns: postingColumns(),
      empty: filter ? '没有符合条件的供需信息' : '还没有供需信息',
      fetchPage: async (t, n) => {
        const r = await ctx.call('SupplyDemandService', 'ListPostings', { filter, page_size: n, page_token: t });
        return { rows: r.postings, next: r.next_page_token };
      },
    }));
  };
  fill(box,
    h('section', { class: 'card' },
      foldable(filterForm([
        ['类型', kind, 'kind'], ['状态', state, 'state'], ['行业代码（含下级）', industry, 'industry'],
        ['可见范围（联盟）', alliance, 'alliance'], ['产业链环节', segment, 'segment'], ['企业信用代码', code, 'code'],
        ['园区内外', zone, 'zone'], ['来源清单', list, 'list'],
      ], draw), ['kind', 'state', 'industry', 'alliance', 'segment', 'code', 'zone', 'list'].filter((k) => q.get(k)).length),
      h('p', { class: 'muted sd-hint' }, '“可见范围”是发布时限定的联盟（空 = 全园区）。列表按发布时间由新到旧排列。'),
      tableBox));
  draw();
}

// ---- one posting and its suggestions ------------------------------------

function crumbs(...items) {
  return h('nav', { class: 'sd-crumbs' }, h('a', { href: '#/supply' }, '供需对接'), items.map((it) => [' › ', it]));
}

async function postingPage(root, ctx, id) {
  const name = `postings/${id}`;
  let p;
  try {
    p = await ctx.call('SupplyDemandService', 'GetPosting', { name });
  } catch (e) {
    fill(root, crumbs(h('a', { href: '#/supply?tab=postings' }, '供需信息'), id), errorBox(e));
    return;
  }
  document.title = `${p.title} · 供需对接 · ladder`;
  let allianceName = p.visibility_alliance_id;
  try {
    const a = (await alliances(ctx)).find((x) => x.id === p.visibility_alliance_id);
    if (a) allianceName = a.name;
  } catch {
    // The id is shown instead.
  }
  const dd = (v) => (v === '' || v === null || v === undefined ? h('span', { class: 'muted' }, '—') : v);
  const record = h('dl', { class: 'record sd-record sd-record-wide' },
    h('dt', {}, '编号'), h('dd', {}, h('code', {}, id)),
    h('dt', {}, '企业'), h('dd', {}, firmLink(p.credit_code, p.enterprise_display_name), ' ', h('code', { class: 'muted' }, p.credit_code)),
    h('dt', {}, '行业代码'), h('dd', {}, dd(p.industry_code)),
    h('dt', {}, '产品标签'), h('dd', {}, p.product_tags.length ? p.product_tags.map((t) => h('span', { class: 'tag' }, t)) : dd('')),
    h('dt', {}, '产业链环节'), h('dd', {}, dd(p.chain_segment)),
    h('dt', {}, '数量/金额'), h('dd', {}, dd(howMuch(p))),
    h('dt', {}, '地区'), h('dd', {}, dd(p.region_code)),
    h('dt', {}, '园区内'), h('dd', {}, p.in_zone ? '是' : '否'),
    h('dt', {}, '有效期'), h('dd', {}, `${p.valid_from || '—'} 至 ${p.valid_until || '长期'}`),
    h('dt', {}, '可见范围'), h('dd', {}, p.visibility_alliance_id ? h('a', { href: `#/alliances/${encodeURIComponent(p.visibility_alliance_id)}` }, allianceName) : '全园区'),
    h('dt', {}, '来源清单'), h('dd', {}, dd(SOURCE_LISTS[p.source_list] || '')),
    h('dt', {}, '状态'), h('dd', {}, postingStateTag(p.state),
      p.state === 'POSTING_STATE_CLOSED' ? ` ${fmtTime(p.close_time)} 关闭：${POSTING_CLOSE_REASONS[p.close_reason] || ''}${p.close_note ? `（${p.close_note}）` : ''}` : ''),
    h('dt', {}, '匹配关键词'), h('dd', {}, p.keywords.length ? p.keywords.map((k) => h('span', { class: 'tag sd-kw' }, k)) : dd('')),
    h('dt', {}, '发布时间'), h('dd', {}, fmtTime(p.create_time)),
    h('dt', {}, '最近修改'), h('dd', {}, `${fmtTime(p.update_time)}（修订号 ${p.revision}）`));

  const sugBox = h('section', { class: 'card', id: 'suggestions' });
  const matchesBox = h('div');
  fill(root,
    crumbs(h('a', { href: '#/supply?tab=postings' }, '供需信息'), h('span', {}, id)),
    tabs('postings'),
    h('div', { class: 'sd-head' }, kindTag(p.kind), h('h1', {}, p.title), postingStateTag(p.state)),
    section('供需详情', record, p.description ? h('p', { class: 'sd-desc' }, p.description) : null),
    sugBox,
    section('相关对接', matchesBox));
  suggestions(ctx, p, sugBox);
  fill(matchesBox, pagedTable({
    title: `对接 ${p.title}`,
    columns: matchColumns(),
    pageSize: 20,
    empty: '这条供需还没有对接记录',
    fetchPage: async (t, n) => {
      const r = await ctx.call('SupplyDemandService', 'ListMatches', { filter: `posting = ${quote(name)}`, page_size: n, page_token: t });
      return { rows: r.matches, next: r.next_page_token };
    },
  }));
}

/** SuggestMatches: each counterpart with its score, every factor's points and reason, and (for editors) a way to record the match. */
function suggestions(ctx, p, box) {
  const q = ctx.query;
  const size = options('suggest-size', q.get('n') || '10', [['10', '前 10 条'], ['20', '前 20 条'], ['50', '前 50 条']]);
  const minScore = h('input', { type: 'number', id: 'suggest-min', min: 0, max: 100, step: 'any', value: q.get('min') || '0', class: 'sd-short' });
  const broker = h('input', { type: 'text', id: 'match-broker', maxlength: 100, value: ctx.who.name || '', placeholder: '经办人或机构' });
  const list = h('div', { class: 'sd-suggestions' });
  const counterpart = p.kind === 'POSTING_KIND_DEMAND' ? '供给' : '需求';
  const draw = () => load(list, async () => {
    const r = await ctx.call('SupplyDemandService', 'SuggestMatches', { posting: p.name, page_size: Number(size.value), min_score: Number(minScore.value) || 0 });
    const most = Math.max(...r.suggestions.map((s) => s.score), 1);
    return h('div', {},
      h('p', { class: 'muted' }, `从索引中取出 ${fmtNum(r.candidates_examined)} 条候选${counterpart}，推荐 ${r.suggestions.length} 条（得分 0–100，为各因素得分之和）。`),
      r.suggestions.length
        ? r.suggestions.map((s, i) => suggestionCard(ctx, p, s, i, broker, most))
        : h('p', { class: 'notice' }, `没有达到最低得分的${counterpart}信息。`),
      r.suggestions.length ? exportButton(`匹配推荐 ${p.title}`, [
        { title: '序号 RANK', get: (s) => String(r.suggestions.indexOf(s) + 1) },
        { title: '得分 SCORE', get: (s) => String(s.score) },
        { title: '编号 ID', get: (s) => idOf(s.posting.name) },
        { title: '标题 TITLE', get: (s) => s.posting.title },
        { title: '企业名称 NAME', get: (s) => s.posting.enterprise_display_name },
        { title: '信用代码 CODE', get: (s) => s.posting.credit_code },
        ...FACTOR_ORDER.map((f) => ({ title: `${FACTORS[f]}得分 POINTS`, get: (s) => String((s.factors.find((x) => x.factor === f) || {}).points || 0) })),
        { title: '理由 WHY', get: (s) => s.reasons.join('；') },
        { title: '已有对接 MATCH', get: (s) => idOf(s.existing_match) },
      ], () => r.suggestions) : null);
  });
  const form = h('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    const rq = routeQuery();
    rq.set('n', size.value);
    rq.set('min', minScore.value);
    setRouteQuery(rq);
    draw();
  } }, field('数量', size), field('最低得分', minScore), h('button', { type: 'submit', class: 'secondary' }, '重新推荐'),
  ctx.who.may_write ? field('经办人（创建对接时记录）', broker) : null);
  size.addEventListener('change', () => form.requestSubmit());
  fill(box, h('h2', {}, `匹配推荐：可对接的${counterpart}`), form, list);
  if (p.state !== 'POSTING_STATE_OPEN') {
    fill(list, h('div', { class: 'notice' }, `这条供需${POSTING_STATES[p.state] || ''}，只为有效的供需推荐匹配。已有的对接见下方“相关对接”。`));
    return;
  }
  draw();
}

function suggestionCard(ctx, p, s, i, broker, most) {
  const c = s.posting;
  const factors = [...s.factors].sort((a, b) => b.points - a.points || FACTOR_ORDER.indexOf(a.factor) - FACTOR_ORDER.indexOf(b.factor));
  // A stacked bar: each factor's points as a share of 100.
  const bar = h('div', { class: 'sd-score-bar', title: '各因素得分（满分 100）' },
    factors.filter((f) => f.points > 0).map((f) => h('span', { class: `sd-seg ${f.factor}`, 'data-w': f.points, title: `${FACTORS[f.factor] || f.factor}：${fmtNum(f.points, 1)} 分` })));
  for (const seg of bar.children) seg.style.width = `${seg.dataset.w}%`;
  const action = h('div', { class: 'sd-sugg-action' });
  if (s.existing_match) {
    fill(action, h('a', { href: matchHref(s.existing_match), class: 'sd-existing' }, `已有对接 ${idOf(s.existing_match)} →`));
  } else if (ctx.who.may_write) {
    const out = h('div');
    const btn = h('button', { type: 'button', 'data-create-match': idOf(c.name), onclick: async () => {
      btn.disabled = true;
      fill(out);
      const demandSide = p.kind === 'POSTING_KIND_DEMAND';
      try {
        const m = await ctx.call('SupplyDemandService', 'CreateMatch', {
          match: {
            supply_posting: demandSide ? c.name : p.name,
            demand_posting: demandSide ? p.name : c.name,
            origin: 'MATCH_ORIGIN_SUGGESTED',
            broker: broker.value.trim(),
          },
          request_id: requestId(),
        });
        toast(`已创建对接 ${idOf(m.name)}`);
        fill(action, h('a', { href: matchHref(m.name), class: 'sd-existing', 'data-created-match': idOf(m.name) }, `已创建对接 ${idOf(m.name)} →`));
      } catch (e) {
        btn.disabled = false;
        fill(out, errorBox(e));
      }
    } }, '创建对接');
    fill(action, btn, out);
  }
  return h('article', { class: 'sd-sugg', 'data-suggestion': idOf(c.name) },
    h('div', { class: 'sd-sugg-main' },
      h('div', { class: 'sd-sugg-head' },
        h('span', { class: 'sd-rank' }, `#${i + 1}`),
        h('span', { class: 'sd-score', 'data-score': s.score }, fmtNum(s.score, 1), h('small', {}, ' 分')),
        h('div', { class: 'sd-sugg-title' },
          kindTag(c.kind), ' ', h('a', { href: postingHref(c.name) }, c.title),
          h('div', { class: 'sd-sugg-firm' }, firmLink(c.credit_code, c.enterprise_display_name),
            c.in_zone ? h('span', { class: 'tag sd-inzone' }, '园区内') : h('span', { class: 'tag' }, '园区外')),
          h('div', { class: 'muted sd-sugg-meta' }, [c.industry_code, c.chain_segment, howMuch(c), c.valid_until ? `有效至 ${c.valid_until}` : ''].filter(Boolean).join(' · ')))),
      bar,
      s.reasons.length
        ? h('div', { class: 'sd-why' }, h('span', { class: 'muted' }, '推荐理由：'), s.reasons.map((r) => h('span', { class: 'sd-why-item' }, r)))
        : h('p', { class: 'muted' }, '没有得分的因素'),
      action),
    h('div', { class: 'sd-factors-wrap' }, h('table', { class: 'sd-factors' },
      h('thead', {}, h('tr', {}, h('th', {}, '因素'), h('th', { class: 'num' }, '权重'), h('th', { class: 'num' }, '符合度'), h('th', { class: 'num' }, '得分'), h('th', {}, '理由'))),
      h('tbody', {}, factors.map((f) => h('tr', { class: f.points > 0 ? null : 'sd-zero', 'data-factor': f.factor },
        h('td', {}, h('span', { class: `sd-dot ${f.factor}` }), FACTORS[f.factor] || f.factor),
        h('td', { class: 'num' }, fmtNum(f.weight, 0)),
        h('td', { class: 'num' }, `${fmtNum(f.value * 100, 0)}%`),
        h('td', { class: 'num' }, fmtNum(f.points, 1)),
        h('td', {}, f.reason || h('span', { class: 'muted' }, '—'))))),
      h('tfoot', {}, h('tr', {}, h('td', {}, '合计'), h('td', { class: 'num' }, fmtNum(s.factors.reduce((a, f) => a + f.weight, 0), 0)), h('td', {}), h('td', { class: 'num' }, fmtNum(s.score, 1)), h('td', {}))))));
}

// ---- matches -----------------------------------------------------------

function matchColumns() {
  return [
    { title: '编号 ID', get: (m) => h('a', { href: matchHref(m.name), 'data-match': idOf(m.name) }, h('code', {}, idOf(m.name))), text: (m) => idOf(m.name) },
    { title: '状态 STATE', get: (m) => matchStateTag(m.state), text: (m) => MATCH_STATES[m.state] || m.state },
    { title: '供方 SUPPLIER', get: (m) => firmLink(m.supplier_credit_code, m.supplier_display_name || m.supplier_credit_code), text: (m) => m.supplier_display_name },
    { title: '需方 DEMANDER', get: (m) => firmLink(m.demander_credit_code, m.demander_display_name || m.demander_credit_code), text: (m) => m.demander_display_name },
    { title: '签约额(万元) AMOUNT', class: 'num', get: (m) => wan(m.amount_wan), text: (m) => (Number(m.amount_wan) ? String(m.amount_wan) : '') },
    { title: '签约日期 DATE', class: 'sd-nw', get: (m) => m.signed_date },
    { title: '经办人 BROKER', get: (m) => m.broker },
    { title: '推荐得分 SCORE', class: 'num', get: (m) => (Number(m.score) ? fmtNum(m.score, 1) : ''), text: (m) => String(m.score || '') },
    { title: '来源 ORIGIN', class: 'sd-nw', get: (m) => MATCH_ORIGINS[m.origin] || '' },
    { title: '园区内供给 IN ZONE', class: 'sd-nw', get: (m) => (m.supplier_in_zone ? '是' : '否') },
    { title: '更新时间 TIME (UTC+8)', class: 'sd-nw', get: (m) => fmtTime(m.update_time) },
  ];
}

async function matchesTab(box, ctx) {
  const q = ctx.query;
  const state = options('match-state', q.get('state'), [['', '全部状态'], ...Object.entries(MATCH_STATES).map(([k, l]) => [k.replace('MATCH_STATE_', ''), l])]);
  const code = h('input', { type: 'text', id: 'match-code', value: q.get('code') || '', placeholder: '供方或需方信用代码', maxlength: 24 });
  const broker = h('input', { type: 'text', id: 'match-broker-filter', value: q.get('broker') || '', placeholder: '完全一致', maxlength: 100 });
  const tableBox = h('div');
  const draw = () => {
    const cond = [];
    if (state.value) cond.push(`state = ${state.value}`);
    if (code.value.trim()) cond.push(`credit_code = ${quote(code.value.trim().toUpperCase())}`);
    if (broker.value.trim()) cond.push(`broker = ${quote(broker.value.trim())}`);
    const filter = cond.join(' AND ');
    fill(tableBox, pagedTable({
      id: 'matches',
      title: '对接跟踪',
      columns: matchColumns(),
      empty: filter ? '没有符合条件的对接' : '还没有对接记录：在供需信息的“匹配推荐”中创建',
      fetchPage: async (t, n) => {
        const r = await ctx.call('SupplyDemandService', 'ListMatches', { filter, page_size: n, page_token: t });
        return { rows: r.matches, next: r.next_page_token };
      },
    }));
  };
  // Quick state chips: one click to each stage of the pipeline.
  const chips = h('div', { class: 'sd-chips' }, [['', '全部'], ...Object.entries(MATCH_STATES).map(([k, l]) => [k.replace('MATCH_STATE_', ''), l])].map(([v, l]) =>
    h('a', { href: `#/supply?tab=matches${v ? `&state=${v}` : ''}`, class: `sd-chip${(q.get('state') || '') === v ? ' active' : ''}` }, l)));
  fill(box, h('section', { class: 'card' },
    chips,
    filterForm([['状态', state, 'state'], ['企业信用代码', code, 'code'], ['经办人', broker, 'broker']], draw),
    tableBox));
  draw();
}

async function matchPage(root, ctx, id) {
  const name = `matches/${id}`;
  let m;
  try {
    m = await ctx.call('SupplyDemandService', 'GetMatch', { name });
  } catch (e) {
    fill(root, crumbs(h('a', { href: '#/supply?tab=matches' }, '对接跟踪'), id), errorBox(e));
    return;
  }
  document.title = `对接 ${id} · 供需对接 · ladder`;
  const reached = new Map();
  for (const e of m.events) if (!reached.has(e.state)) reached.set(e.state, e.date);
  const currentIndex = STEPS.findIndex(([s]) => s === m.state);
  const closed = m.state === 'MATCH_STATE_CLOSED';
  // How far along the line the match got (for a closed one: its last step before closing).
  const furthest = Math.max(currentIndex, ...STEPS.map(([s], i) => (reached.has(s) ? i : -1)));
  const stepper = h('ol', { class: `sd-steps${closed ? ' sd-closed' : ''}`, id: 'match-steps' },
    STEPS.map(([s, l], i) => h('li', {
      class: `${reached.has(s) ? 'done' : 'skipped'}${i <= furthest ? ' passed' : ''}${s === m.state ? ' current' : ''}`,
      'data-state': s,
    }, h('span', { class: 'sd-step-dot' }, String(i + 1)), h('span', { class: 'sd-step-l' }, l), h('span', { class: 'sd-step-d' }, reached.get(s) || ''))),
    closed ? h('li', { class: 'done current sd-step-closed', 'data-state': 'MATCH_STATE_CLOSED' }, h('span', { class: 'sd-step-dot' }, '×'), h('span', { class: 'sd-step-l' }, '已关闭'),
      h('span', { class: 'sd-step-d' }, `${reached.get('MATCH_STATE_CLOSED') || ''} ${MATCH_CLOSE_REASONS[m.close_reason] || ''}`)) : null);

  const record = h('dl', { class: 'record sd-record' },
    h('dt', {}, '供方'), h('dd', {}, firmLink(m.supplier_credit_code, m.supplier_display_name), m.supplier_in_zone ? h('span', { class: 'tag sd-inzone' }, '园区内') : h('span', { class: 'tag' }, '园区外')),
    h('dt', {}, '供给信息'), h('dd', {}, h('a', { href: postingHref(m.supply_posting) }, idOf(m.supply_posting))),
    h('dt', {}, '需方'), h('dd', {}, firmLink(m.demander_credit_code, m.demander_display_name)),
    h('dt', {}, '需求信息'), h('dd', {}, h('a', { href: postingHref(m.demand_posting) }, idOf(m.demand_posting))),
    h('dt', {}, '签约'), h('dd', {}, Number(m.amount_wan) ? `${fmtNum(m.amount_wan, 2)} 万元，${m.signed_date}` : h('span', { class: 'muted' }, '未签约')),
    h('dt', {}, '经办人'), h('dd', {}, m.broker || h('span', { class: 'muted' }, '—')),
    h('dt', {}, '来源'), h('dd', {}, MATCH_ORIGINS[m.origin] || '—'),
    h('dt', {}, '推荐得分'), h('dd', {}, Number(m.score) ? `${fmtNum(m.score, 1)} 分` : h('span', { class: 'muted' }, '—'),
      m.reasons.length ? h('ul', { class: 'sd-reasons' }, m.reasons.map((r) => h('li', {}, r))) : null),
    h('dt', {}, '备注'), h('dd', {}, m.notes || h('span', { class: 'muted' }, '—')),
    h('dt', {}, '创建时间'), h('dd', {}, fmtTime(m.create_time)),
    h('dt', {}, '最近修改'), h('dd', {}, `${fmtTime(m.update_time)}（修订号 ${m.revision}）`));

  const events = table([
    { title: '日期 DATE', class: 'sd-nw', get: (e) => e.date },
    { title: '状态 STATE', get: (e) => matchStateTag(e.state), text: (e) => MATCH_STATES[e.state] },
    { title: '签约额(万元) AMOUNT', class: 'num', get: (e) => wan(e.amount_wan), text: (e) => (Number(e.amount_wan) ? String(e.amount_wan) : '') },
    { title: '关闭原因 REASON', get: (e) => MATCH_CLOSE_REASONS[e.close_reason] || '' },
    { title: '备注 NOTE', get: (e) => e.note },
    { title: '经办 BY', class: 'sd-nw', get: (e) => e.actor },
    { title: '记录时间 TIME (UTC+8)', class: 'sd-nw', get: (e) => fmtTime(e.record_time) },
  ], m.events, { class: 'sd-events' });

  const final = m.state === 'MATCH_STATE_DELIVERED' || closed;
  fill(root,
    crumbs(h('a', { href: '#/supply?tab=matches' }, '对接跟踪'), h('span', {}, id)),
    tabs('matches'),
    h('div', { class: 'sd-head' }, h('h1', {}, '对接：', m.supplier_display_name, ' → ', m.demander_display_name), matchStateTag(m.state)),
    h('section', { class: 'card' }, stepper),
    h('div', { class: 'sd-top' },
      section('对接详情', record),
      h('div', {},
        ctx.who.may_write && !final ? advanceForm(ctx, m, currentIndex, () => matchPage(root, ctx, id)) : null,
        final ? h('div', { class: 'notice' }, closed ? '对接已关闭，不能再推进。' : '对接已交付，流程结束。') : null,
        h('section', { class: 'card', id: 'match-events' }, h('h2', {}, '进展记录'), events))));
}

/** AdvanceMatch: the next state (skipping allowed), its date, the signed amount or the close reason, a note. */
function advanceForm(ctx, m, currentIndex, done) {
  const choices = [];
  for (let j = currentIndex + 1; j < STEPS.length; j++) {
    const [s, l] = STEPS[j];
    if (s === 'MATCH_STATE_DELIVERED' && m.state !== 'MATCH_STATE_SIGNED') continue;
    choices.push([s, j === currentIndex + 1 ? `${l}（下一步）` : `${l}（跳过中间步骤）`]);
  }
  choices.push(['MATCH_STATE_CLOSED', '关闭（未成交）']);
  const state = options('advance-state', choices[0][0], choices);
  const lastDate = m.events.length ? m.events[m.events.length - 1].date : '';
  const date = h('input', { type: 'date', id: 'advance-date', value: todayCst(), max: todayCst(), min: lastDate || null });
  const amount = h('input', { type: 'number', id: 'advance-amount', min: 0, step: '0.0001', placeholder: '万元' });
  const reason = options('advance-reason', '', [['', '请选择'], ...Object.entries(MATCH_CLOSE_REASONS)]);
  const note = h('input', { type: 'text', id: 'advance-note', maxlength: 500, placeholder: '可选' });
  const amountField = field('签约额（万元）', amount, '签约时必填');
  const reasonField = field('关闭原因', reason);
  const sync = () => {
    amountField.hidden = state.value !== 'MATCH_STATE_SIGNED';
    reasonField.hidden = state.value !== 'MATCH_STATE_CLOSED';
    amount.required = !amountField.hidden;
    reason.required = !reasonField.hidden;
  };
  state.addEventListener('change', sync);
  sync();
  const out = h('div');
  const submit = h('button', { type: 'submit', id: 'advance-submit' }, '推进');
  return h('form', { class: 'card sd-advance', id: 'match-advance', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(out);
    const req = { name: m.name, state: state.value, date: date.value, note: note.value.trim(), etag: m.etag, request_id: requestId() };
    if (state.value === 'MATCH_STATE_SIGNED') req.amount_wan = Number(amount.value);
    if (state.value === 'MATCH_STATE_CLOSED') req.close_reason = reason.value || 'MATCH_CLOSE_REASON_UNSPECIFIED';
    try {
      const r = await ctx.call('SupplyDemandService', 'AdvanceMatch', req);
      toast(`对接已推进到“${MATCH_STATES[r.state]}”`);
      done(r);
    } catch (err) {
      fill(out, errorBox(err));
      submit.disabled = false;
    }
  } },
  h('h2', {}, '推进对接'),
  h('div', { class: 'sd-inline' }, field('推进到', state), field('日期', date, lastDate ? `不早于上一步（${lastDate}），不晚于今天` : '不晚于今天'), amountField, reasonField, field('备注', note)),
  h('div', { class: 'toolbar' }, submit),
  out);
}

// ---- the map -----------------------------------------------------------

async function mapTab(box, ctx) {
  const q = ctx.query;
  const alliance = await allianceSelect(ctx, 'map-alliance', q.get('alliance'), '全部联盟');
  const industry = h('input', { type: 'text', id: 'map-industry', value: q.get('industry') || '', placeholder: '如 C38、C3841', maxlength: 8, class: 'sd-short' });
  const level = options('map-level', q.get('level'), [['', '自动'], ['FIRM', '企业级'], ['CATEGORY', '产业类别总览']]);
  const zone = options('map-zone', q.get('zone'), [['', '园区内外'], ['true', '仅园区内'], ['false', '仅园区外']]);
  const state = options('map-state', q.get('pstate'), [['', '有效供需'], ['CLOSED', '已关闭供需'], ['EXPIRED', '已过期供需']]);
  const maxFirms = h('input', { type: 'number', id: 'map-max', min: 1, max: 2000, step: 1, value: q.get('max') || '100', class: 'sd-short' });
  const closedMatches = h('input', { type: 'checkbox', id: 'map-closed', checked: q.get('closed') === '1' || null });
  const info = h('div', { class: 'sd-map-info' });
  const view = h('div', { class: 'map-view sd-map', id: 'map', tabindex: 0, 'aria-label': '供需图谱：拖动平移，滚轮缩放' });
  let svgText = '';
  const viewer = panZoom(view, (id) => {
    if (id.startsWith('cat:')) {
      industry.value = id.slice(4);
      form.requestSubmit();
    } else {
      location.hash = `#/firms/${encodeURIComponent(id)}`;
    }
  }, (code) => {
    industry.value = code;
    form.requestSubmit();
  });
  const download = h('button', { type: 'button', class: 'secondary', id: 'map-download', disabled: true, onclick: () => {
    const blob = new Blob([svgText], { type: 'image/svg+xml' });
    const a = h('a', { href: URL.createObjectURL(blob), download: `供需图谱${alliance.value ? `-${alliance.value}` : ''}${industry.value ? `-${industry.value}` : ''}.svg` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } }, '下载 SVG');
  let generation = 0;
  const draw = async () => {
    const mine = ++generation;
    fill(info, h('span', { class: 'loading' }, '正在生成图谱…'));
    const req = {};
    if (alliance.value) req.alliance_id = alliance.value;
    if (industry.value.trim()) req.industry_code = industry.value.trim().toUpperCase();
    if (zone.value) req.in_zone = zone.value === 'true';
    if (state.value) req.state = `POSTING_STATE_${state.value}`;
    if (closedMatches.checked) req.include_closed_matches = true;
    if (level.value) req.level = `MAP_LEVEL_${level.value}`;
    if (Number(maxFirms.value)) req.max_firms = Number(maxFirms.value);
    let text;
    try {
      text = await mapSvg(req);
      if (mine !== generation) return;
      svgText = text;
    } catch (e) {
      if (mine !== generation) return;
      svgText = '';
      download.disabled = true;
      viewer.clear();
      fill(info, errorBox(e));
      return;
    }
    const doc = new DOMParser().parseFromString(svgText, 'image/svg+xml');
    const svg = doc.documentElement;
    if (svg.nodeName !== 'svg') {
      svgText = '';
      download.disabled = true;
      viewer.clear();
      fill(info, errorBox(new Error('图谱无法解析')));
      return;
    }
    const texts = [...svg.querySelectorAll('text')].map((t) => t.textContent);
    const all = texts.join('\n');
    const truncated = /已截断|已达读取上限/.test(all);
    const overview = all.includes('产业类别总览');
    // The server's hint names the CLI's flags; say it the way this page does.
    for (const t of svg.querySelectorAll('text')) {
      if (t.textContent.includes('--alliance')) t.textContent = '按产业类别汇总：选择联盟或输入行业代码缩小范围，或选“企业级”，可查看企业级图谱；点击类别可按该类别筛选';
    }
    const summary = texts[1] || '';
    fill(info,
      h('div', { class: 'sd-map-summary' }, summary,
        h('span', { class: 'muted' }, overview
          ? ' · 点击一个类别，查看该类别的企业级图谱'
          : ' · 点击企业方框打开企业档案，点击类别方框按类别筛选')),
      truncated ? h('div', { class: 'warnbox', id: 'map-truncated', 'data-truncated': 'true' },
        overview ? '已达读取上限：类别总览只统计了部分供需。请按联盟或行业缩小范围。'
          : `图谱已截断：符合条件的企业多于 ${fmtNum(maxFirms.value)} 家，只画出了一部分。请按联盟或行业缩小范围，或调高“最多企业数”（至多 2,000）。`) : null);
    viewer.show(document.adoptNode(svg));
    download.disabled = false;
  };
  const form = filterForm([
    ['联盟', alliance, 'alliance'], ['行业代码（含下级）', industry, 'industry'], ['层级', level, 'level'],
    ['园区内外', zone, 'zone'], ['供需状态', state, 'pstate'], ['最多企业数', maxFirms, 'max'],
  ], draw, h('label', { class: 'sd-check' }, closedMatches, ' 含已关闭的对接'));
  closedMatches.addEventListener('change', () => {
    const rq = routeQuery();
    rq.set('closed', closedMatches.checked ? '1' : '');
    setRouteQuery(rq);
    draw();
  });
  fill(box, h('section', { class: 'card' },
    foldable(form, ['alliance', 'industry', 'level', 'zone', 'pstate'].filter((k) => q.get(k)).length),
    h('div', { class: 'toolbar sd-map-tools' },
      info, h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'secondary sd-zoom', id: 'map-zoom-in', title: '放大', 'aria-label': '放大', onclick: () => viewer.zoom(1.25) }, '+'),
      h('button', { type: 'button', class: 'secondary sd-zoom', id: 'map-zoom-out', title: '缩小', 'aria-label': '缩小', onclick: () => viewer.zoom(0.8) }, '−'),
      h('button', { type: 'button', class: 'secondary', id: 'map-reset', title: '适应宽度', onclick: () => viewer.reset() }, '复位'),
      download),
    view,
    h('p', { class: 'muted sd-hint' }, '拖动平移，滚轮或 +/− 缩放，“复位”回到适应宽度。')));
  draw();
}

/**
 * Pan (drag, one finger) and zoom (wheel, pinch, buttons) of an SVG inside
 * `view`, by a CSS transform set from script. A click that did not drag on a
 * `g.node[data-node]` calls `onNode(id)`; on a category row of the overview,
 * `onCategory(code)`.
 */
function panZoom(view, onNode, onCategory) {
  let svg = null;
  let k = 1;
  let x = 0;
  let y = 0;
  let size = { w: 1, h: 1 };
  const pointers = new Map();
  let moved = 0;
  let pinch = null;
  const apply = () => {
    if (!svg) return;
    svg.style.transform = `translate(${x}px, ${y}px) scale(${k})`;
    view.dataset.scale = k.toFixed(3);
    view.dataset.x = x.toFixed(1);
    view.dataset.y = y.toFixed(1);
  };
  const clampK = (v) => Math.min(8, Math.max(0.05, v));
  function zoomAt(f, cx, cy) {
    const nk = clampK(k * f);
    x = cx - ((cx - x) * nk) / k;
    y = cy - ((cy - y) * nk) / k;
    k = nk;
    apply();
  }
  function reset() {
    if (!svg) return;
    const cw = view.clientWidth || 800;
    k = Math.min(1, cw / size.w);
    x = Math.max(0, (cw - size.w * k) / 2);
    y = 0;
    apply();
  }
  view.addEventListener('wheel', (e) => {
    if (!svg) return;
    e.preventDefault();
    const r = view.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015)), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  view.addEventListener('pointerdown', (e) => {
    if (!svg || e.button > 0) return;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 1) moved = 0;
    if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), k };
    }
    view.classList.add('sd-dragging');
  });
  view.addEventListener('pointermove', (e) => {
    const p = pointers.get(e.pointerId);
    if (!p) return;
    const dx = e.clientX - p.x;
    const dy = e.clientY - p.y;
    p.x = e.clientX;
    p.y = e.clientY;
    moved += Math.abs(dx) + Math.abs(dy);
    // Capture only once it is a drag, so a plain click still reaches its node.
    if (moved > 4 && !view.hasPointerCapture(e.pointerId)) {
      try {
        view.setPointerCapture(e.pointerId);
      } catch {
        // The pointer may be gone already.
      }
    }
    if (pointers.size === 2 && pinch) {
      const [a, b] = [...pointers.values()];
      const d = Math.hypot(a.x - b.x, a.y - b.y);
      const r = view.getBoundingClientRect();
      zoomAt((pinch.k * (d / pinch.d)) / k, (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
    } else if (pointers.size === 1) {
      x += dx;
      y += dy;
      apply();
    }
  });
  const up = (e) => {
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
    if (!pointers.size) view.classList.remove('sd-dragging');
  };
  view.addEventListener('pointerup', up);
  view.addEventListener('pointercancel', up);
  view.addEventListener('pointerleave', (e) => {
    if (!view.hasPointerCapture(e.pointerId)) up(e);
  });
  view.addEventListener('click', (e) => {
    if (moved > 5) {
      moved = 0;
      return;
    }
    const node = e.target.closest && e.target.closest('g.node[data-node]');
    if (node) {
      onNode(node.getAttribute('data-node'));
      return;
    }
    const row = e.target.closest && e.target.closest('g.sd-cat-row');
    if (row) onCategory(row.getAttribute('data-code'));
  });
  view.addEventListener('keydown', (e) => {
    const step = 60;
    if (e.key === '+' || e.key === '=') zoomAt(1.25, view.clientWidth / 2, view.clientHeight / 2);
    else if (e.key === '-') zoomAt(0.8, view.clientWidth / 2, view.clientHeight / 2);
    else if (e.key === '0') reset();
    else if (e.key === 'ArrowLeft') x += step;
    else if (e.key === 'ArrowRight') x -= step;
    else if (e.key === 'ArrowUp') y += step;
    else if (e.key === 'ArrowDown') y -= step;
    else return;
    e.preventDefault();
    apply();
  });
  return {
    show(el) {
      svg = el;
      const vb = svg.viewBox && svg.viewBox.baseVal;
      size = {
        w: Number(svg.getAttribute('width')) || (vb && vb.width) || 800,
        h: Number(svg.getAttribute('height')) || (vb && vb.height) || 600,
      };
      // The overview's category rows: `<g><title>C3562 名称：…</title>…`.
      for (const g of svg.querySelectorAll('g')) {
        if (g.classList.contains('node')) continue;
        const t = g.firstElementChild;
        const mm = t && t.nodeName === 'title' && /^([A-Z]\d{2,4})\s/.exec(t.textContent);
        if (mm) {
          g.classList.add('sd-cat-row');
          g.setAttribute('data-code', mm[1]);
        }
      }
      fill(view, svg);
      reset();
    },
    clear() {
      svg = null;
      fill(view);
    },
    zoom(f) {
      zoomAt(f, view.clientWidth / 2, view.clientHeight / 2);
    },
    reset,
  };
}

// ---- chain gaps and the local sourcing rate -----------------------------

async function gapsTab(box, ctx) {
  const q = ctx.query;
  const level = options('gaps-level', q.get('level'), [['', '小类（4 位）'], ['GROUP', '中类（3 位）'], ['DIVISION', '大类（2 位）']]);
  const alliance = await allianceSelect(ctx, 'gaps-alliance', q.get('alliance'), '全部联盟');
  const industry = h('input', { type: 'text', id: 'gaps-industry', value: q.get('industry') || '', placeholder: '如 C38', maxlength: 8, class: 'sd-short' });
  const covered = h('input', { type: 'checkbox', id: 'gaps-covered', checked: q.get('covered') === '1' || null });
  const gapsBox = h('div', { id: 'gaps' });
  const postingsLink = (params, label) => h('a', { href: `#/supply?${new URLSearchParams({ tab: 'postings', state: 'OPEN', ...params })}` }, label);
  const drawGaps = () => load(gapsBox, async () => {
    const req = { include_covered: covered.checked };
    if (level.value) req.level = `CATEGORY_LEVEL_${level.value}`;
    if (alliance.value) req.alliance_id = alliance.value;
    if (industry.value.trim()) req.industry_code = industry.value.trim().toUpperCase();
    const r = await ctx.call('SupplyDemandService', 'ListChainGaps', req);
    const gaps = r.gaps.filter((g) => g.in_zone_supplies === 0).length;
    const columns = [
      { title: '缺链 GAP', get: (g) => (g.in_zone_supplies === 0 ? h('span', { class: 'tag sd-gap' }, '缺链') : h('span', { class: 'tag sd-covered' }, '有配套')), text: (g) => (g.in_zone_supplies === 0 ? '缺链' : '') },
      { title: '类别代码 CODE', get: (g) => h('code', {}, g.industry_code), text: (g) => g.industry_code },
      { title: '类别名称 CATEGORY', get: (g) => g.industry_name },
      { title: '需求数 DEMANDS', class: 'num', get: (g) => postingsLink({ kind: 'DEMAND', industry: g.industry_code }, fmtNum(g.open_demands)), text: (g) => String(g.open_demands) },
      { title: '需求额(万元) AMOUNT', class: 'num', get: (g) => wan(g.open_demand_amount_wan), text: (g) => (Number(g.open_demand_amount_wan) ? String(g.open_demand_amount_wan) : '') },
      { title: '园区内供给数 COUNT', class: 'num', get: (g) => (g.in_zone_supplies ? postingsLink({ kind: 'SUPPLY', industry: g.industry_code, zone: 'true' }, fmtNum(g.in_zone_supplies)) : '0'), text: (g) => String(g.in_zone_supplies) },
      { title: '园区外供给数 COUNT', class: 'num', get: (g) => (g.out_of_zone_supplies ? postingsLink({ kind: 'SUPPLY', industry: g.industry_code, zone: 'false' }, fmtNum(g.out_of_zone_supplies)) : '0'), text: (g) => String(g.out_of_zone_supplies) },
      { title: '产业链环节 SEGMENT', get: (g) => g.chain_segments.join('、') },
      { title: '需求企业 DEMANDERS', get: (g) => demanders(g), text: (g) => g.demanding_firms.map((f) => f.display_name).join('、') },
      { title: '图谱 MAP', class: 'sd-nw', get: (g) => h('a', { href: `#/supply?${new URLSearchParams({ tab: 'map', industry: g.industry_code, ...(alliance.value ? { alliance: alliance.value } : {}) })}` }, '查看'), text: () => '' },
    ];
    return h('div', {},
      h('div', { class: 'toolbar' },
        h('span', { class: 'page-status', 'data-total': String(r.gaps.length) },
          covered.checked ? `${r.gaps.length} 个有未满足需求的类别，其中缺链 ${gaps} 个` : `缺链类别 ${r.gaps.length} 个（有未关闭的需求、园区内无供给）`),
        h('span', { class: 'spacer' }),
        exportButton('缺链清单', columns.filter((c) => c.title !== '图谱 MAP'), () => r.gaps)),
      table(columns, r.gaps, { empty: covered.checked ? '没有未满足的需求' : '没有缺链：每个有需求的类别都有园区内供给', class: 'sd-gaps' }));
  });
  const gapForm = filterForm([
    ['类别层级', level, 'level'], ['需求方所在联盟', alliance, 'alliance'], ['行业代码（含下级）', industry, 'industry'],
  ], drawGaps, h('label', { class: 'sd-check' }, covered, ' 也列出有园区内供给的类别'));
  covered.addEventListener('change', () => {
    const rq = routeQuery();
    rq.set('covered', covered.checked ? '1' : '');
    setRouteQuery(rq);
    drawGaps();
  });

  // The local sourcing rate over a period.
  const year = todayCst().slice(0, 4);
  const from = h('input', { type: 'date', id: 'sourcing-from', value: q.get('from') || `${year}-01-01`, max: todayCst() });
  const to = h('input', { type: 'date', id: 'sourcing-to', value: q.get('to') || todayCst(), max: todayCst() });
  const rateBox = h('div', { id: 'sourcing' });
  const pct = (r) => `${fmtNum(r * 100, 1)}%`;
  const drawRate = () => load(rateBox, async () => {
    const r = await ctx.call('SupplyDemandService', 'GetSourcingRate', { start_date: from.value, end_date: to.value });
    from.value = r.start_date;
    to.value = r.end_date;
    const z = r.zone || { signed_deals: 0, signed_amount_wan: 0, in_zone_amount_wan: 0, rate: 0 };
    const rows = [{ label: '全园区', id: '', figures: z }, ...r.alliances.map((a) => ({ label: a.display_name, id: a.alliance_id, figures: a.figures || {} }))];
    const columns = [
      { title: '范围 SCOPE', get: (x) => (x.id ? h('a', { href: `#/alliances/${encodeURIComponent(x.id)}` }, x.label) : h('strong', {}, x.label)), text: (x) => x.label },
      { title: '签约数 DEALS', class: 'num', get: (x) => fmtNum(x.figures.signed_deals), text: (x) => String(x.figures.signed_deals || 0) },
      { title: '签约额(万元) AMOUNT', class: 'num', get: (x) => fmtNum(x.figures.signed_amount_wan, 2), text: (x) => String(x.figures.signed_amount_wan || 0) },
      { title: '园区内供给(万元) IN-ZONE AMOUNT', class: 'num', get: (x) => fmtNum(x.figures.in_zone_amount_wan, 2), text: (x) => String(x.figures.in_zone_amount_wan || 0) },
      { title: '本地配套率 LOCAL RATE', class: 'num', get: (x) => h('span', { class: 'sd-rate' }, h('span', { class: 'sd-rate-track' }, h('span', { class: 'sd-rate-bar', 'data-w': Math.round((x.figures.rate || 0) * 100) })), pct(x.figures.rate || 0)), text: (x) => pct(x.figures.rate || 0) },
    ];
    const out = h('div', {},
      h('div', { class: 'kpis' },
        h('div', { class: 'kpi', id: 'sourcing-rate' }, h('span', { class: 'n' }, pct(z.rate)), h('span', { class: 'l' }, `本地配套率（${r.start_date} 至 ${r.end_date}）`)),
        h('div', { class: 'kpi' }, h('span', { class: 'n' }, fmtNum(z.signed_deals)), h('span', { class: 'l' }, '期内签约数（签约/交付）')),
        h('div', { class: 'kpi' }, h('span', { class: 'n' }, fmtNum(z.signed_amount_wan, 2)), h('span', { class: 'l' }, '签约额（万元）')),
        h('div', { class: 'kpi' }, h('span', { class: 'n' }, fmtNum(z.in_zone_amount_wan, 2)), h('span', { class: 'l' }, '其中园区内供给（万元）'))),
      h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, '按需方企业所在联盟分列（一家企业可在多个联盟）。'), h('span', { class: 'spacer' }),
        exportButton(`本地配套率 ${r.start_date} 至 ${r.end_date}`, columns, () => rows)),
      table(columns, rows, { class: 'sd-rates' }));
    for (const b of out.querySelectorAll('.sd-rate-bar')) b.style.width = `${Math.min(100, Number(b.dataset.w))}%`;
    return out;
  });
  const rateForm = h('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    const rq = routeQuery();
    rq.set('from', from.value);
    rq.set('to', to.value);
    setRouteQuery(rq);
    drawRate();
  } }, field('签约日期起', from), field('签约日期止', to), h('button', { type: 'submit', class: 'secondary' }, '计算'));

  fill(box,
    h('section', { class: 'card' }, h('h2', {}, '缺链清单（补链招商线索）'),
      h('p', { class: 'muted sd-hint' }, '有未关闭需求、但园区内没有有效供给的产业类别。需求数、供给数可点开对应的供需信息。'),
      gapForm, gapsBox),
    h('section', { class: 'card' }, h('h2', {}, '本地配套率'),
      h('p', { class: 'muted sd-hint' }, '期内签约（含已交付）金额中，由园区内企业供给的比例。'),
      rateForm, rateBox));
  drawGaps();
  drawRate();
}

/** The demanding firms of a gap: the first few linked, the rest behind a toggle. */
function demanders(g) {
  const firms = g.demanding_firms;
  const link = (f) => h('span', { class: 'sd-demander' }, firmLink(f.credit_code, f.display_name),
    f.postings.length > 1 ? h('span', { class: 'muted' }, `（${f.postings.length} 条）`) : null);
  if (firms.length <= 3) return h('span', { class: 'sd-demanders' }, firms.map(link));
  const rest = h('span', { class: 'sd-demanders', hidden: true }, firms.slice(3).map(link));
  const more = h('button', { type: 'button', class: 'link sd-more', onclick: () => {
    rest.hidden = !rest.hidden;
    more.textContent = rest.hidden ? `等 ${firms.length} 家，展开` : '收起';
  } }, `等 ${firms.length} 家，展开`);
  return h('span', {}, h('span', { class: 'sd-demanders' }, firms.slice(0, 3).map(link)), rest, more);
}
