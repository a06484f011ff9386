// 梯度培育: candidates for a target designation (criteria met / missed /
// unknown), designations falling due, and how fast cohorts climbed.
//
// Also exports the small pieces the overview shares with it: designation
// kinds and their labels, the enterprise filter built from zone / industry /
// alliance, links to the firms list, a pager over a list the server answers
// whole, and the scope controls.

import {
  h, fill, errorBox, todayCst, addDays, fmtNum, STAGES, stageLabel, codeOf, firmLink,
  pagedTable, field, setRouteQuery,
} from '../ui.js';

/** Loads a page stylesheet once. */
export function useCss(href) {
  if (!document.querySelector(`link[rel="stylesheet"][href="${href}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href }));
  }
}

/** Designation kinds in proto order: [enum, Chinese label, short label]. */
export const KINDS = [
  ['DESIGNATION_KIND_INCUBATED', '在孵企业', '在孵'],
  ['DESIGNATION_KIND_TECH_SME', '科技型中小企业', '科小'],
  ['DESIGNATION_KIND_HIGH_TECH', '高新技术企业', '高企'],
  ['DESIGNATION_KIND_ABOVE_SCALE_INDUSTRY', '规上工业企业', '规上工业'],
  ['DESIGNATION_KIND_ABOVE_SCALE_SERVICES', '规上服务业企业', '规上服务业'],
  ['DESIGNATION_KIND_ABOVE_QUOTA_TRADE', '限上批零住餐企业', '限上'],
  ['DESIGNATION_KIND_INNOVATIVE_SME', '创新型中小企业', '创新型'],
  ['DESIGNATION_KIND_SPECIALISED_SME', '专精特新中小企业', '专精特新'],
  ['DESIGNATION_KIND_LITTLE_GIANT', '专精特新“小巨人”企业', '小巨人'],
  ['DESIGNATION_KIND_SINGLE_CHAMPION', '制造业单项冠军', '单项冠军'],
  ['DESIGNATION_KIND_GAZELLE', '瞪羚企业', '瞪羚'],
  ['DESIGNATION_KIND_POTENTIAL_GAZELLE', '潜在瞪羚企业', '潜在瞪羚'],
  ['DESIGNATION_KIND_UNICORN', '独角兽企业', '独角兽'],
  ['DESIGNATION_KIND_POTENTIAL_UNICORN', '潜在独角兽企业', '潜在独角兽'],
  ['DESIGNATION_KIND_NEEQ_LISTING', '新三板挂牌', '新三板'],
  ['DESIGNATION_KIND_REGIONAL_EQUITY_LISTING', '区域性股权市场挂牌', '区域股权'],
  ['DESIGNATION_KIND_EXCHANGE_LISTING', '交易所上市', '上市'],
];

/** The Chinese name of a designation kind enum. */
export function kindLabel(kind) {
  const k = KINDS.find(([e]) => e === kind);
  return k ? k[1] : String(kind || '').replace(/^DESIGNATION_KIND_/, '');
}

/** The targets ListCandidates evaluates (cultivation.proto, ListCandidatesRequest.target). */
const TARGETS = [
  'DESIGNATION_KIND_TECH_SME', 'DESIGNATION_KIND_HIGH_TECH', 'DESIGNATION_KIND_ABOVE_SCALE_INDUSTRY',
  'DESIGNATION_KIND_ABOVE_SCALE_SERVICES', 'DESIGNATION_KIND_ABOVE_QUOTA_TRADE', 'DESIGNATION_KIND_SPECIALISED_SME',
  'DESIGNATION_KIND_LITTLE_GIANT', 'DESIGNATION_KIND_GAZELLE', 'DESIGNATION_KIND_UNICORN',
];

/** A stage as a coloured badge. */
export function stageBadge(stage) {
  const i = Math.max(0, STAGES.findIndex(([k]) => k === (stage || 'STAGE_UNSPECIFIED')));
  return h('span', { class: `stage s${i}` }, stageLabel(stage || 'STAGE_UNSPECIFIED'));
}

/** A filter value as a quoted AIP-160 string. */
export function quote(v) {
  return `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The ListEnterprises filter of a scope {zone, industry, alliance}. */
export function enterpriseFilter(scope) {
  const parts = [];
  if (scope.zone) parts.push(`zone = ${quote(scope.zone)}`);
  if (scope.industry) parts.push(`industry_code = ${quote(scope.industry)}`);
  if (scope.alliance) parts.push(`alliance = ${quote(scope.alliance)}`);
  return parts.join(' AND ');
}

/** `#/firms?…` with the non-empty params (names of the firms page: q, stage, zone, industry, alliance, kind, tag). */
export function firmsHref(params) {
  const q = new URLSearchParams();
  for (const k of ['q', 'stage', 'kind', 'tag', 'zone', 'industry', 'alliance']) {
    if (params[k]) q.set(k, params[k]);
  }
  const s = q.toString();
  return s ? `#/firms?${s}` : '#/firms';
}

/** The scope as read from the route query. */
export function scopeOf(query) {
  return {
    zone: query.get('zone') || '',
    industry: (query.get('industry') || '').trim().toUpperCase(),
    alliance: query.get('alliance') || '',
  };
}

/** `fetchPage` for pagedTable over a list the server answers whole (the token is the offset). */
export function localPages(rows) {
  return async (token, size) => {
    const from = Number(token || 0);
    const to = from + size;
    return { rows: rows.slice(from, to), next: to < rows.length ? String(to) : '', total: rows.length };
  };
}

/** Every alliance: [{id, name}] (alliances are few; pages through anyway). */
export async function listAlliances(call) {
  const out = [];
  let token = '';
  do {
    const r = await call('AllianceService', 'ListAlliances', { page_size: 1000, page_token: token });
    for (const a of r.alliances) out.push({ id: a.name.replace(/^alliances\//, ''), name: a.display_name });
    token = r.next_page_token;
  } while (token && out.length < 5000);
  return out;
}

/**
 * Zone, industry and alliance controls; `onChange(scope)` after each change.
 * Zones come from WhoAmI (hidden when none are configured).
 */
export function scopeControls(ctx, scope, alliances, onChange) {
  const zones = (ctx.who && ctx.who.zones) || [];
  const zone = h('select', { id: 'scope-zone', onchange: () => { scope.zone = zone.value; onChange(scope); } },
    h('option', { value: '' }, '全部片区'),
    zones.map((z) => h('option', { value: z.id }, z.display_name || z.id)));
  zone.value = scope.zone;
  const industry = h('input', {
    id: 'scope-industry', type: 'text', placeholder: '如 C37', size: 8, maxlength: 8, value: scope.industry,
    autocomplete: 'off', spellcheck: 'false', title: 'GB/T 4754 行业代码：门类字母和/或 2–4 位数字，如 C、C37、C3742',
    onchange: () => {
      const v = industry.value.trim().toUpperCase();
      industry.value = v;
      // GB/T 4754: a section letter A–T and/or 2, 3 or 4 digits (the server checks it too).
      const ok = !v || /^(?:[A-T]|[A-T]?\d{2,4})$/.test(v);
      industry.classList.toggle('invalid', !ok);
      industry.setCustomValidity(ok ? '' : '行业代码应为门类字母和/或 2–4 位数字，如 C37');
      if (!ok) {
        industry.reportValidity();
        return;
      }
      scope.industry = v;
      onChange(scope);
    },
  });
  const alliance = h('select', { id: 'scope-alliance', onchange: () => { scope.alliance = alliance.value; onChange(scope); } },
    h('option', { value: '' }, '全部联盟'),
    alliances.map((a) => h('option', { value: a.id }, a.name)));
  if (scope.alliance && !alliances.some((a) => a.id === scope.alliance)) {
    alliance.append(h('option', { value: scope.alliance }, scope.alliance));
  }
  alliance.value = scope.alliance;
  return [
    zones.length ? field('片区', zone) : null,
    field('行业代码', industry),
    field('产业联盟', alliance),
  ];
}

/** Whole days from `a` to `b` (YYYY-MM-DD). */
export function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86400000);
}

/** A small horizontal meter for a share 0–1 (width set through the CSSOM, which the CSP allows). */
export function meter(share) {
  const fillEl = h('span', { class: 'meter-fill' });
  fillEl.style.width = `${Math.max(0, Math.min(1, share)) * 100}%`;
  return h('span', { class: 'meter' }, fillEl);
}

/** `values` as <option>s. */
function numberOptions(values, labelOf) {
  return values.map((v) => h('option', { value: String(v) }, labelOf ? labelOf(v) : String(v)));
}

const TABS = [
  ['candidates', '培育候选'],
  ['expiring', '到期复核'],
  ['velocity', '晋级速度'],
];

export async function render(root, ctx) {
  useCss('/assets/pages/cultivation.css');
  const tab = TABS.some(([t]) => t === ctx.query.get('tab')) ? ctx.query.get('tab') : 'candidates';
  const body = h('div', { class: 'cult-body' });
  fill(root,
    h('div', { class: 'cult-head' },
      h('h1', {}, '梯度培育'),
      h('span', { class: 'muted cult-ladder' }, '未入梯 → 育小 → 登高 → 升规 → 晋位 → 上市')),
    h('nav', { class: 'tabs', 'aria-label': '梯度培育' },
      TABS.map(([t, label]) => h('a', { href: `#/cultivation?tab=${t}`, 'data-tab': t, class: t === tab ? 'active' : null, 'aria-current': t === tab ? 'page' : null }, label))),
    body);
  if (tab === 'expiring') return renderExpiring(body, ctx);
  let alliances = [];
  try {
    alliances = await listAlliances(ctx.call);
  } catch (e) {
    body.append(errorBox(e));
  }
  if (tab === 'velocity') return renderVelocity(body, ctx, alliances);
  return renderCandidates(body, ctx, alliances);
}

// ---------------------------------------------------------------- candidates

const VERDICT = {
  CRITERION_STATUS_MET: ['✓', 'met', '达标'],
  CRITERION_STATUS_MISSED: ['✗', 'missed', '未达标'],
  CRITERION_STATUS_UNKNOWN: ['?', 'unknown', '缺数据'],
};

function verdict(status) {
  return VERDICT[status] || VERDICT.CRITERION_STATUS_UNKNOWN;
}

function renderCandidates(body, ctx, alliances) {
  const q = ctx.query;
  const lastYear = Number(todayCst().slice(0, 4)) - 1;
  const state = {
    tab: 'candidates',
    target: TARGETS.includes(q.get('target')) ? q.get('target') : 'DESIGNATION_KIND_HIGH_TECH',
    year: Number(q.get('year')) || lastYear,
    missed: q.get('missed') === '1',
    limit: [100, 300, 1000].includes(Number(q.get('limit'))) ? Number(q.get('limit')) : 100,
    ...scopeOf(q),
  };
  const save = () => setRouteQuery({
    tab: 'candidates', target: state.target, year: state.year === lastYear ? '' : String(state.year),
    missed: state.missed ? '1' : '', limit: state.limit === 100 ? '' : String(state.limit),
    zone: state.zone, industry: state.industry, alliance: state.alliance,
  });
  const out = h('div', { id: 'candidates' });
  const target = h('select', { id: 'cand-target', onchange: () => { state.target = target.value; run(); } },
    TARGETS.map((k) => h('option', { value: k }, kindLabel(k))));
  target.value = state.target;
  const years = [];
  for (let y = lastYear + 1; y >= lastYear - 6; y--) years.push(y);
  if (!years.includes(state.year)) years.push(state.year);
  const year = h('select', { id: 'cand-year', onchange: () => { state.year = Number(year.value); run(); } },
    numberOptions(years, (y) => `${y} 年`));
  year.value = String(state.year);
  const missed = h('input', { type: 'checkbox', id: 'cand-missed', checked: state.missed, onchange: () => { state.missed = missed.checked; run(); } });
  const limit = h('select', { id: 'cand-limit', onchange: () => { state.limit = Number(limit.value); run(); } },
    numberOptions([100, 300, 1000], (n) => `前 ${n} 家`));
  limit.value = String(state.limit);
  fill(body,
    h('div', { class: 'card cult-controls' },
      h('div', { class: 'toolbar' },
        field('目标认定', target),
        field('指标年度', year),
        field('最多', limit),
        scopeControls(ctx, state, alliances, () => run()),
        h('label', { class: 'check' }, missed, ' 含有未达标条件的企业')),
      h('p', { class: 'muted small' },
        '按认定条件逐项评估：✓ 达标，✗ 未达标，? 缺少所需数据（缺数据从不视为达标）。已持有该认定或处于重新申报限制期的企业不列入。')),
    out);
  let generation = 0;
  async function run() {
    const mine = ++generation;
    save();
    fill(out, h('div', { class: 'loading' }, '加载中…'));
    let r;
    try {
      r = await ctx.call('CultivationService', 'ListCandidates', {
        target: state.target, year: state.year, filter: enterpriseFilter(state),
        include_missed: state.missed, page_size: state.limit,
      });
    } catch (e) {
      if (mine === generation) fill(out, errorBox(e));
      return;
    }
    if (mine === generation) drawCandidates(out, r, state);
  }
  run();
}

function drawCandidates(out, r, state) {
  const list = r.candidates;
  // The criteria, in the order the server gives them (the same for every firm of a target).
  const keys = [];
  const described = {};
  for (const c of list) {
    for (const k of c.criteria) {
      if (!(k.key in described)) {
        keys.push(k.key);
        described[k.key] = k.description;
      }
    }
  }
  const allMet = list.filter((c) => c.missed === 0 && c.unknown === 0).length;
  const needData = list.filter((c) => c.missed === 0 && c.unknown > 0).length;
  const missing = list.filter((c) => c.missed > 0).length;
  const columns = [
    {
      title: '企业名称 NAME',
      get: (c) => h('div', { class: 'firm-cell' }, firmLink(c.enterprise, c.display_name || codeOf(c.enterprise)), h('span', { class: 'code' }, codeOf(c.enterprise))),
      text: (c) => c.display_name,
    },
    { title: '信用代码 CODE', get: (c) => codeOf(c.enterprise), class: 'export-only' },
    { title: '当前梯度 STAGE', get: (c) => stageBadge(c.stage), text: (c) => stageLabel(c.stage) },
    {
      title: '达标/未达/缺数据 MET/MISSED/UNKNOWN',
      get: (c) => h('span', { class: 'tally' },
        h('span', { class: 'v-met' }, `✓${c.met}`), h('span', { class: 'v-missed' }, `✗${c.missed}`), h('span', { class: 'v-unknown' }, `?${c.unknown}`)),
      text: (c) => `${c.met}/${c.missed}/${c.unknown}`,
    },
    ...keys.map((key) => ({
      title: `${described[key]} ${key.toUpperCase()}`,
      get: (c) => {
        const k = c.criteria.find((x) => x.key === key);
        if (!k) return '';
        const [mark, cls, word] = verdict(k.status);
        return h('div', { class: `crit ${cls}`, title: `${k.description}：${k.value || '无数据'}（门槛 ${k.threshold}）· ${word}` },
          h('span', { class: 'mark', 'aria-label': word }, mark),
          h('span', { class: 'desc' }, k.description),
          h('span', { class: 'val' }, k.value || '—'),
          h('span', { class: 'thr' }, k.threshold));
      },
      text: (c) => {
        const k = c.criteria.find((x) => x.key === key);
        if (!k) return '';
        return `${verdict(k.status)[0]} ${verdict(k.status)[2]}：${k.value || '无数据'}（${k.threshold}）`;
      },
    })),
  ];
  fill(out,
    h('div', { class: 'cult-summary' },
      h('div', { class: 'sum' }, h('b', {}, fmtNum(list.length)), h('span', {}, `家候选 · ${kindLabel(r.target)}`)),
      h('div', { class: 'sum met' }, h('b', {}, fmtNum(allMet)), h('span', {}, '条件全部达标')),
      h('div', { class: 'sum unknown' }, h('b', {}, fmtNum(needData)), h('span', {}, '仅缺数据待补')),
      state.missed ? h('div', { class: 'sum missed' }, h('b', {}, fmtNum(missing)), h('span', {}, '有未达标条件')) : null,
      h('div', { class: 'sum meta muted' }, `指标年度 ${r.year} · 政策版本 ${r.policy_version || '—'}`)),
    list.length >= state.limit
      ? h('div', { class: 'notice' }, `已列出前 ${fmtNum(state.limit)} 家（按达标条件数排序），可能还有更多：请用片区、行业或联盟缩小范围，或调大"最多"。`)
      : null,
    h('div', { class: 'card table-card' }, pagedTable({
      title: `培育候选-${kindLabel(r.target)}-${r.year}`,
      columns,
      fetchPage: localPages(list),
      pageSize: 50,
      empty: '没有符合条件的候选企业',
    })));
}

// ---------------------------------------------------------------- expiring

function renderExpiring(body, ctx) {
  const q = ctx.query;
  const state = {
    days: Math.min(3660, Math.max(1, Number(q.get('days')) || 90)),
    kind: KINDS.some(([k]) => k === q.get('kind')) ? q.get('kind') : '',
  };
  const out = h('div', { id: 'expiring' });
  const days = h('input', { type: 'number', id: 'exp-days', min: 1, max: 3660, step: 1, value: String(state.days),
    onchange: () => { state.days = Math.min(3660, Math.max(1, Math.round(Number(days.value) || 90))); days.value = String(state.days); run(); } });
  const quick = h('div', { class: 'quick' }, [30, 90, 180, 365].map((n) =>
    h('button', { type: 'button', class: 'secondary', 'data-days': n, onclick: () => { state.days = n; days.value = String(n); run(); } }, `${n} 天`)));
  const kind = h('select', { id: 'exp-kind', onchange: () => { state.kind = kind.value; run(); } },
    h('option', { value: '' }, '全部类型'), KINDS.map(([k, label]) => h('option', { value: k }, label)));
  kind.value = state.kind;
  fill(body,
    h('div', { class: 'card cult-controls' },
      h('div', { class: 'toolbar' }, field('未来天数', days), quick, field('认定类型', kind)),
      h('p', { class: 'muted small' }, '已认定且有效期将在所选天数内届满的认定（科技型中小企业、规上入统等年度事项即为复核到期）。按到期日先后排列；范围为全区，不按片区或联盟筛选。')),
    out);
  let generation = 0;
  async function run() {
    const mine = ++generation;
    setRouteQuery({ tab: 'expiring', days: state.days === 90 ? '' : String(state.days), kind: state.kind });
    for (const b of quick.children) b.classList.toggle('active', Number(b.dataset.days) === state.days);
    fill(out, h('div', { class: 'loading' }, '加载中…'));
    let r;
    try {
      r = await ctx.call('CultivationService', 'ListExpiringDesignations', { within_days: state.days, kind: state.kind || undefined });
    } catch (e) {
      if (mine === generation) fill(out, errorBox(e));
      return;
    }
    if (mine !== generation) return;
    const today = todayCst();
    const rows = r.designations.map((d, i) => ({ d, name: r.display_names[i] || '', left: d.valid_until ? daysBetween(today, d.valid_until) : null }));
    const byKind = new Map();
    for (const x of rows) byKind.set(x.d.kind, (byKind.get(x.d.kind) || 0) + 1);
    const columns = [
      { title: '到期日 DATE', get: (x) => x.d.valid_until, class: 'nowrap' },
      {
        title: '剩余天数 DAYS',
        get: (x) => h('span', { class: `days ${x.left <= 30 ? 'bad' : x.left <= 60 ? 'warn' : ''}` }, x.left === null ? '' : x.left === 0 ? '今天' : `${x.left} 天`),
        text: (x) => (x.left === null ? '' : String(x.left)),
        class: 'num',
      },
      { title: '企业名称 NAME', get: (x) => firmLink(x.d.name.split('/designations/')[0], x.name || undefined), text: (x) => x.name },
      { title: '信用代码 CODE', get: (x) => h('span', { class: 'code' }, codeOf(x.d.name.split('/designations/')[0])), text: (x) => codeOf(x.d.name.split('/designations/')[0]) },
      { title: '认定类型 KIND', get: (x) => kindLabel(x.d.kind) },
      { title: '梯度 STAGE', get: (x) => stageBadge(x.d.stage), text: (x) => stageLabel(x.d.stage) },
      { title: '有效期起 FROM DATE', get: (x) => x.d.valid_from, class: 'nowrap' },
      { title: '证书编号 CERTIFICATE', get: (x) => x.d.certificate_number },
      { title: '认定机关 AUTHORITY', get: (x) => x.d.authority },
      { title: '批次 BATCH', get: (x) => x.d.batch },
    ];
    fill(out,
      h('div', { class: 'cult-summary' },
        h('div', { class: 'sum' }, h('b', {}, fmtNum(rows.length)), h('span', {}, `项认定将在 ${state.days} 天内到期（至 ${addDays(today, state.days)}）`)),
        h('div', { class: 'sum bad' }, h('b', {}, fmtNum(rows.filter((x) => x.left !== null && x.left <= 30).length)), h('span', {}, '项 30 天内到期'))),
      byKind.size > 1 ? h('div', { class: 'kind-chips' }, [...byKind].sort((a, b) => b[1] - a[1]).map(([k, n]) =>
        h('button', { type: 'button', class: 'chip', 'data-kind': k, onclick: () => { state.kind = k; kind.value = k; run(); } }, kindLabel(k), h('b', {}, fmtNum(n))))) : null,
      h('div', { class: 'card table-card' }, pagedTable({
        title: `到期认定-${state.days}天`,
        columns,
        fetchPage: localPages(rows),
        pageSize: 50,
        empty: `未来 ${state.days} 天内没有到期的认定`,
      })));
  }
  run();
}

// ---------------------------------------------------------------- velocity

const CLIMBING = ['STAGE_NURTURE', 'STAGE_CLIMB', 'STAGE_SCALE_UP', 'STAGE_ADVANCE'];

function renderVelocity(body, ctx, alliances) {
  const q = ctx.query;
  const thisYear = Number(todayCst().slice(0, 4));
  const clampYear = (y, d) => (Number.isInteger(y) && y >= 1990 && y <= thisYear ? y : d);
  const state = {
    stage: CLIMBING.includes(q.get('stage')) ? q.get('stage') : 'STAGE_NURTURE',
    from: clampYear(Number(q.get('from')), thisYear - 5),
    to: clampYear(Number(q.get('to')), thisYear),
    ...scopeOf(q),
  };
  const out = h('div', { id: 'velocity' });
  const stage = h('select', { id: 'vel-stage', onchange: () => { state.stage = stage.value; run(); } },
    CLIMBING.map((s) => h('option', { value: s }, `${stageLabel(s)}`)));
  stage.value = state.stage;
  const years = [];
  for (let y = thisYear; y >= thisYear - 15; y--) years.push(y);
  const from = h('select', { id: 'vel-from', onchange: () => { state.from = Number(from.value); run(); } }, numberOptions(years));
  const to = h('select', { id: 'vel-to', onchange: () => { state.to = Number(to.value); run(); } }, numberOptions(years));
  from.value = String(state.from);
  to.value = String(state.to);
  fill(body,
    h('div', { class: 'card cult-controls' },
      h('div', { class: 'toolbar' },
        field('进入梯度', stage), field('起始年份', from), field('截止年份', to),
        scopeControls(ctx, state, alliances, () => run())),
      h('p', { class: 'muted small' }, '按进入该梯度的年份分组（队列）：多少家企业后来升到更高梯度，以及从进入到升级所用天数的中位数。点击某一年查看企业明细。')),
    out);
  let generation = 0;
  async function run() {
    const mine = ++generation;
    if (state.from > state.to) [state.from, state.to] = [state.to, state.from];
    from.value = String(state.from);
    to.value = String(state.to);
    setRouteQuery({ tab: 'velocity', stage: state.stage, from: String(state.from), to: String(state.to), zone: state.zone, industry: state.industry, alliance: state.alliance });
    fill(out, h('div', { class: 'loading' }, '加载中…'));
    const filter = enterpriseFilter(state);
    const ys = [];
    for (let y = state.from; y <= state.to; y++) ys.push(y);
    let cohorts;
    try {
      cohorts = await Promise.all(ys.map((year) => ctx.call('CultivationService', 'GetCohortVelocity', { stage: state.stage, year, filter })));
    } catch (e) {
      if (mine === generation) fill(out, errorBox(e));
      return;
    }
    if (mine !== generation) return;
    drawVelocity(out, cohorts, state);
  }
  run();
}

function drawVelocity(out, cohorts, state) {
  const detail = h('div', { class: 'cohort-detail' });
  const rate = (c) => (c.cohort ? c.advanced / c.cohort : 0);
  const columns = [
    { title: '进入年份 YEAR', get: (c) => h('button', { type: 'button', class: 'link-btn', onclick: () => showMembers(c) }, `${c.year} 年`), text: (c) => String(c.year) },
    { title: '进入企业数 FIRMS', get: (c) => fmtNum(c.cohort), text: (c) => String(c.cohort), class: 'num' },
    { title: '已升级 ADVANCED', get: (c) => fmtNum(c.advanced), text: (c) => String(c.advanced), class: 'num' },
    {
      title: '升级率 RATE',
      get: (c) => h('span', { class: 'rate' }, meter(rate(c)), `${(rate(c) * 100).toFixed(1)}%`),
      text: (c) => `${(rate(c) * 100).toFixed(1)}%`,
      class: 'num',
    },
    { title: '升级用时中位数(天) MEDIAN DAYS', get: (c) => (c.advanced ? fmtNum(c.median_days) : '—'), text: (c) => (c.advanced ? String(Number(c.median_days)) : ''), class: 'num' },
  ];
  const totalCohort = cohorts.reduce((s, c) => s + c.cohort, 0);
  const totalAdvanced = cohorts.reduce((s, c) => s + c.advanced, 0);
  const chart = h('div', { class: 'chart velocity-chart' });
  fill(out,
    h('div', { class: 'cult-summary' },
      h('div', { class: 'sum' }, h('b', {}, fmtNum(totalCohort)), h('span', {}, `家在 ${state.from}–${state.to} 年进入${stageLabel(state.stage)}`)),
      h('div', { class: 'sum met' }, h('b', {}, fmtNum(totalAdvanced)), h('span', {}, `已升至更高梯度（${totalCohort ? ((totalAdvanced / totalCohort) * 100).toFixed(1) : '0.0'}%）`))),
    h('div', { class: 'velocity-grid' },
      h('div', { class: 'card' }, h('h2', {}, `${stageLabel(state.stage)} 队列：进入与升级`), chart,
        h('div', { class: 'legend' }, h('span', { class: 'lg cohort' }, '进入企业数'), h('span', { class: 'lg adv' }, '已升级'))),
      h('div', { class: 'card table-card' }, h('h2', {}, '队列明细'), pagedTable({
        title: `晋级速度-${stageLabel(state.stage)}-${state.from}-${state.to}`,
        columns,
        fetchPage: localPages(cohorts),
        pageSize: 50,
      }))),
    detail);
  let selected = null;
  const mark = () => { for (const g of chart.querySelectorAll('.cohort')) g.classList.toggle('selected', Number(g.dataset.year) === selected); };
  const draw = () => { drawCohortChart(chart, cohorts, showMembers); mark(); };
  draw();
  const onResize = () => { if (!chart.isConnected) window.removeEventListener('resize', onResize); else draw(); };
  window.addEventListener('resize', onResize);
  const latest = [...cohorts].reverse().find((c) => c.cohort > 0);
  if (latest) showMembers(latest, false);
  function showMembers(c, scroll = true) {
    selected = c.year;
    mark();
    const members = [...c.members].sort((a, b) => (!!b.advanced - !!a.advanced) || Number(a.days) - Number(b.days));
    fill(detail, h('div', { class: 'card table-card', id: 'cohort-members' },
      h('h2', {}, `${c.year} 年进入${stageLabel(state.stage)}的企业：${fmtNum(c.cohort)} 家，已升级 ${fmtNum(c.advanced)} 家`),
      pagedTable({
        title: `队列-${stageLabel(state.stage)}-${c.year}`,
        columns: [
          { title: '信用代码 CODE', get: (m) => firmLink(m.enterprise), text: (m) => codeOf(m.enterprise) },
          { title: '进入日期 DATE', get: (m) => m.entered, class: 'nowrap' },
          { title: '升级日期 DATE', get: (m) => m.advanced || h('span', { class: 'muted' }, '尚未升级'), text: (m) => m.advanced, class: 'nowrap' },
          { title: '用时(天) DAYS', get: (m) => (m.advanced ? fmtNum(m.days) : ''), text: (m) => (m.advanced ? String(Number(m.days)) : ''), class: 'num' },
        ],
        fetchPage: localPages(members),
        pageSize: 50,
        empty: '该年份没有企业进入此梯度',
      })));
    if (scroll) detail.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }
}

/** Grouped bars per cohort year: entered (light) and advanced (dark), median days under the year. */
function drawCohortChart(el, cohorts, onPick) {
  const W = Math.max(280, el.clientWidth || 560);
  const H = 240;
  const top = 22;
  const bottom = 46;
  const left = 6;
  const right = 6;
  const max = Math.max(1, ...cohorts.map((c) => c.cohort));
  const slot = (W - left - right) / Math.max(1, cohorts.length);
  const bw = Math.min(34, slot * 0.34);
  const plot = H - top - bottom;
  const y = (n) => top + plot - (n / max) * plot;
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': '队列进入与升级企业数' },
    h('svg:line', { x1: left, x2: W - right, y1: top + plot + 0.5, y2: top + plot + 0.5, class: 'axis' }),
    cohorts.map((c, i) => {
      const cx = left + slot * i + slot / 2;
      const hc = c.cohort ? Math.max(2, top + plot - y(c.cohort)) : 0;
      const ha = c.advanced ? Math.max(2, top + plot - y(c.advanced)) : 0;
      return h('svg:g', {
        class: 'cohort', 'data-year': c.year, 'data-cohort': c.cohort, 'data-advanced': c.advanced, tabindex: 0, role: 'button',
        'aria-label': `${c.year} 年：进入 ${c.cohort} 家，已升级 ${c.advanced} 家`,
        onclick: () => onPick(c),
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onPick(c); } },
      },
      h('svg:title', {}, `${c.year} 年进入 ${c.cohort} 家，已升级 ${c.advanced} 家${c.advanced ? `，中位 ${Number(c.median_days)} 天` : ''}`),
      h('svg:rect', { class: 'hit', x: cx - slot / 2, y: 0, width: slot, height: H }),
      h('svg:rect', { class: 'col-cohort', x: cx - bw - 1, y: top + plot - hc, width: bw, height: hc, rx: 2 }),
      h('svg:rect', { class: 'col-adv', x: cx + 1, y: top + plot - ha, width: bw, height: ha, rx: 2 }),
      h('svg:text', { class: 'n', x: cx - bw / 2 - 1, y: top + plot - hc - 5, 'text-anchor': 'middle' }, fmtNum(c.cohort)),
      h('svg:text', { class: 'n adv', x: cx + bw / 2 + 1, y: top + plot - ha - 5, 'text-anchor': 'middle' }, fmtNum(c.advanced)),
      h('svg:text', { class: 'yr', x: cx, y: top + plot + 18, 'text-anchor': 'middle' }, String(c.year)),
      h('svg:text', { class: 'md', x: cx, y: top + plot + 35, 'text-anchor': 'middle' }, c.advanced ? `${slot < 80 ? '' : '中位 '}${Number(c.median_days)} 天` : '—'));
    }));
  fill(el, svg);
}
