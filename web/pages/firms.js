// 企业: the firm list (#/firms) and a firm's page (#/firms/{credit code}).
//
// The list searches names (current and former), jumps straight to a firm
// when the query is a credit code, and filters by stage, zone, industry,
// alliance, designation kind and tag, paged on the server with exact totals.
// A firm's page shows the record (and edits it, with etag conflicts handled),
// its stage and designations on a time axis, memberships, yearly figures,
// supply–demand postings and matches, and the change history.

import { ApiError } from '../api.js';
import {
  h, fill, fmtTime, todayCst, fmtNum, STAGES, stageLabel, codeOf, firmLink, errorBox, load,
  toast, table, pagedTable, exportButton, field, setRouteQuery, MAX_EXPORT_ROWS, ORIGIN_LABELS, FIELD_LABELS,
} from '../ui.js';
import {
  KINDS, normKind, kindLabel, STATUS_LABELS, LEVEL_LABELS, CAUSE_LABELS, timelineView, designationState,
  lastDay, daysBetween, countsOn, EXPIRY_WINDOW_DAYS,
} from './timeline.js';

const CSS_ID = 'page-css-firms';
if (!document.getElementById(CSS_ID)) {
  document.head.append(h('link', { rel: 'stylesheet', href: '/assets/pages/firms.css', id: CSS_ID }));
}

export async function render(root, ctx) {
  if (ctx.parts.length) return renderFirm(root, ctx, ctx.parts[0]);
  return renderList(root, ctx);
}

// ---------------------------------------------------------------- shared bits

const ROLE_LABELS = {
  MEMBERSHIP_ROLE_UNSPECIFIED: '', MEMBERSHIP_ROLE_CHAIR: '理事长单位', MEMBERSHIP_ROLE_VICE_CHAIR: '副理事长单位',
  MEMBERSHIP_ROLE_STANDING_DIRECTOR: '常务理事单位', MEMBERSHIP_ROLE_DIRECTOR: '理事单位',
  MEMBERSHIP_ROLE_MEMBER: '会员单位', MEMBERSHIP_ROLE_SECRETARIAT: '秘书处',
};
const END_REASON_LABELS = {
  END_REASON_UNSPECIFIED: '', END_REASON_WITHDREW: '主动退出', END_REASON_LAPSED: '逾期未缴费/未年检',
  END_REASON_EXPELLED: '除名', END_REASON_ORGANISATION_DISSOLVED: '注销/关闭', END_REASON_ALLIANCE_DISSOLVED: '联盟解散',
  END_REASON_ENTERPRISE_DELETED: '企业被删除', END_REASON_OTHER: '其他',
};
const MEMBERSHIP_EVENT_LABELS = {
  MEMBERSHIP_EVENT_KIND_JOINED: '加入', MEMBERSHIP_EVENT_KIND_ROLE_CHANGED: '角色变更',
  MEMBERSHIP_EVENT_KIND_ENDED: '退出', MEMBERSHIP_EVENT_KIND_REJOINED: '重新加入',
};
const POSTING_KIND_LABELS = { POSTING_KIND_SUPPLY: '供给', POSTING_KIND_DEMAND: '需求' };
const POSTING_STATE_LABELS = { POSTING_STATE_OPEN: '有效', POSTING_STATE_CLOSED: '已关闭', POSTING_STATE_EXPIRED: '已过期' };
const MATCH_STATE_LABELS = {
  MATCH_STATE_PROPOSED: '已推荐', MATCH_STATE_CONTACTED: '已对接', MATCH_STATE_NEGOTIATING: '洽谈中',
  MATCH_STATE_SIGNED: '已签约', MATCH_STATE_DELIVERED: '已交付', MATCH_STATE_CLOSED: '已关闭',
};
const CHANGE_KIND_LABELS = {
  CHANGE_KIND_CREATED: '新建', CHANGE_KIND_UPDATED: '修改', CHANGE_KIND_DELETED: '删除', CHANGE_KIND_UNDELETED: '恢复',
};

function stageBadge(stage) {
  const i = Math.max(0, STAGES.findIndex(([k]) => k === stage));
  return h('span', { class: `stage s${i}` }, stageLabel(stage) || '未入梯');
}

function zoneName(who, id) {
  if (!id) return '';
  const z = (who.zones || []).find((x) => x.id === id);
  return z && z.display_name ? z.display_name : id;
}

/** A credit code as typed: full-width to half-width, no spaces, upper case. */
function normCode(text) {
  return String(text || '')
    .replace(/[\uFF01-\uFF5E]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xFEE0))
    .replace(/[\s\u3000]/g, '')
    .toUpperCase();
}

function looksLikeCode(code) {
  return /^[0-9A-Z]{18}$/.test(code) && /\d/.test(code);
}

/** A value as an AIP-160 string literal. */
function quote(v) {
  return `"${String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function normStage(value) {
  const v = String(value || '').trim();
  if (!v) return '';
  const upper = v.toUpperCase();
  const s = STAGES.find(([k, label]) => k === upper || k === `STAGE_${upper}` || label === v);
  return s ? s[0] : '';
}

function num(v, digits = 2) {
  return v === undefined || v === null || v === '' ? '' : fmtNum(v, digits);
}

function raw(v) {
  return v === undefined || v === null ? '' : String(v);
}

function jump(el) {
  el.scrollIntoView({ behavior: 'smooth', block: 'start' });
}


// ---------------------------------------------------------------- the list

const FILTER_KEYS = ['q', 'stage', 'zone', 'industry', 'alliance', 'kind', 'tag', 'deleted', 'order'];

async function renderList(root, ctx) {
  const { who, call } = ctx;
  const q = ctx.query;
  const state = {
    q: q.get('q') || '',
    stage: normStage(q.get('stage')),
    zone: q.get('zone') || '',
    industry: q.get('industry') || '',
    alliance: (q.get('alliance') || '').replace(/^alliances\//, ''),
    kind: normKind(q.get('kind')),
    tag: q.get('tag') || '',
    deleted: q.get('deleted') === '1' || q.get('show_deleted') === 'true',
    order: q.get('order') || '',
  };
  // A stage filter may name 未入梯 (STAGE_UNSPECIFIED): keep it when asked for.
  if (!state.stage && /^(STAGE_)?UNSPECIFIED$|^未入梯$/i.test(q.get('stage') || '')) state.stage = 'STAGE_UNSPECIFIED';

  const search = h('input', {
    type: 'search', id: 'firm-search', value: state.q, autocomplete: 'off',
    placeholder: '企业名称（含曾用名）或统一社会信用代码', 'aria-label': '搜索企业',
  });
  const stageSel = h('select', { name: 'stage' },
    h('option', { value: '' }, '全部梯度'),
    STAGES.map(([k, label]) => h('option', { value: k }, label)));
  stageSel.value = state.stage;
  const zoneSel = (who.zones || []).length
    ? h('select', { name: 'zone' }, h('option', { value: '' }, '全部片区'),
      who.zones.map((z) => h('option', { value: z.id }, z.display_name || z.id)),
      state.zone && !who.zones.some((z) => z.id === state.zone) ? h('option', { value: state.zone }, state.zone) : null)
    : h('input', { name: 'zone', placeholder: '片区 id', value: state.zone, size: 8 });
  zoneSel.value = state.zone;
  const industryIn = h('input', { name: 'industry', value: state.industry, placeholder: '如 C37、C3963', size: 10 });
  const allianceSel = h('select', { name: 'alliance' }, h('option', { value: '' }, '全部联盟'),
    state.alliance ? h('option', { value: state.alliance }, state.alliance) : null);
  allianceSel.value = state.alliance;
  const kindSel = h('select', { name: 'kind' }, h('option', { value: '' }, '全部认定'),
    KINDS.map(([id, label]) => h('option', { value: `DESIGNATION_KIND_${id}` }, label)));
  kindSel.value = state.kind;
  const tagIn = h('input', { name: 'tag', value: state.tag, placeholder: '如 专精特新', size: 10 });
  const orderSel = h('select', { name: 'order' },
    h('option', { value: '' }, '按信用代码'),
    h('option', { value: 'display_name' }, '按名称'),
    h('option', { value: 'create_time desc' }, '最近登记在前'),
    h('option', { value: 'create_time' }, '最早登记在前'));
  orderSel.value = state.order;
  const deletedBox = h('input', { type: 'checkbox', name: 'deleted', checked: state.deleted });
  deletedBox.checked = state.deleted;
  const results = h('div', { class: 'firm-results' });
  const summary = h('div', { class: 'filter-summary' });

  const form = h('form', { class: 'card firm-filters', id: 'firm-filters', onsubmit: (e) => { e.preventDefault(); read(); run(true); } },
    h('div', { class: 'search-row' },
      search,
      h('button', { type: 'submit', id: 'firm-search-go' }, '搜索'),
      h('button', { type: 'button', class: 'secondary filter-toggle', 'aria-label': '筛选条件', onclick: () => form.classList.toggle('open') }, '筛选')),
    h('div', { class: 'toolbar filters' },
      field('梯度', stageSel),
      field('招商片区', zoneSel),
      field('行业代码', industryIn),
      field('产业联盟', allianceSel),
      field('认定类型', kindSel),
      field('标签', tagIn),
      field('排序', orderSel),
      h('label', { class: 'check' }, deletedBox, '含已删除企业'),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'secondary', id: 'firm-clear', onclick: () => {
        search.value = ''; stageSel.value = ''; zoneSel.value = ''; industryIn.value = ''; allianceSel.value = '';
        kindSel.value = ''; tagIn.value = ''; orderSel.value = ''; deletedBox.checked = false;
        read(); run(true);
      } }, '清除条件')),
    summary);

  if (state.stage || state.zone || state.industry || state.alliance || state.kind || state.tag || state.deleted || state.order) {
    form.classList.add('open');
  }
  for (const el of [stageSel, zoneSel, allianceSel, kindSel, orderSel, deletedBox, industryIn, tagIn]) {
    el.addEventListener('change', () => { read(); run(true); });
  }

  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, '企业'),
      h('span', { class: 'muted' }, '企业名录：按名称、曾用名或信用代码查找，按梯度、片区、行业、联盟、认定和标签筛选')),
    form, results);

  // The alliances for the select (few: one page).
  call('AllianceService', 'ListAlliances', { page_size: 1000 }).then((r) => {
    const keep = allianceSel.value;
    fill(allianceSel, h('option', { value: '' }, '全部联盟'),
      r.alliances.map((a) => h('option', { value: a.name.replace(/^alliances\//, '') }, a.display_name || a.name)),
      keep && !r.alliances.some((a) => a.name === `alliances/${keep}`) ? h('option', { value: keep }, keep) : null);
    allianceSel.value = keep;
  }).catch(() => {});

  function read() {
    state.q = search.value.trim();
    state.stage = stageSel.value;
    state.zone = zoneSel.value.trim();
    state.industry = industryIn.value.trim().toUpperCase();
    state.alliance = allianceSel.value;
    state.kind = kindSel.value;
    state.tag = tagIn.value.trim();
    state.deleted = deletedBox.checked;
    state.order = orderSel.value;
  }

  function writeQuery() {
    setRouteQuery({
      q: state.q, stage: state.stage, zone: state.zone, industry: state.industry, alliance: state.alliance,
      kind: state.kind, tag: state.tag, deleted: state.deleted ? '1' : '', order: state.order,
    });
  }

  /** The ListEnterprises conditions of everything but the designation kind. */
  function conditions(nameQuery) {
    const c = [];
    if (nameQuery) c.push(`display_name:${quote(nameQuery)}`);
    if (state.stage) c.push(`stage = ${state.stage}`);
    if (state.zone) c.push(`zone = ${quote(state.zone)}`);
    if (state.industry) c.push(`industry_code = ${quote(state.industry)}`);
    if (state.alliance) c.push(`alliance = ${quote(state.alliance)}`);
    if (state.tag) c.push(`tags:${quote(state.tag)}`);
    return c;
  }

  const columns = (nameQuery) => [
    { title: '企业名称 NAME', get: (e) => h('span', { class: 'name-cell' },
      firmLink(e.name, e.display_name),
      e.delete_time ? h('span', { class: 'deleted-badge', title: e.delete_reason || '' }, '已删除') : null,
      formerHit(e, nameQuery)), text: (e) => e.display_name },
    { title: '信用代码 CODE', get: (e) => h('code', {}, e.credit_code), text: (e) => e.credit_code },
    { title: '梯度 STAGE', get: (e) => stageBadge(e.stage), text: (e) => stageLabel(e.stage) },
    // The download can be edited and synced back: codes and zone ids go in
    // the columns sync reads, names in read-only columns it skips.
    { title: '行业代码 INDUSTRY', get: (e) => (e.industry_code
      ? h('span', { title: e.industry_name }, h('code', {}, e.industry_code), ' ', h('span', { class: 'muted ind-name' }, e.industry_name))
      : ''), text: (e) => e.industry_code },
    { title: '行业名称 INDUSTRY NAME', noShow: true, get: (e) => e.industry_name },
    { title: '片区 ZONE', get: (e) => zoneName(who, e.promotion_zone), text: (e) => e.promotion_zone },
    { title: '片区名称 ZONE NAME', noShow: true, get: (e) => zoneName(who, e.promotion_zone) },
    { title: '服务专员 COMMISSIONER', get: (e) => e.service_commissioner },
    { title: '更新时间 TIME (UTC+8)', get: (e) => fmtTime(e.update_time), class: 'nowrap' },
  ];

  function formerHit(e, nameQuery) {
    if (!nameQuery || e.display_name.includes(nameQuery)) return null;
    const f = (e.former_names || []).find((x) => x.display_name.includes(nameQuery));
    return f ? h('span', { class: 'former-hit muted' }, `曾用名：${f.display_name}`) : null;
  }

  let generation = 0;
  async function run(fromUser) {
    const mine = ++generation;
    writeQuery();
    let nameQuery = state.q;
    const notes = [];
    // A credit code goes straight to the firm's page.
    const code = normCode(state.q);
    if (looksLikeCode(code)) {
      fill(results, h('div', { class: 'loading' }, `查找信用代码 ${code}…`));
      try {
        await call('EnterpriseService', 'GetEnterprise', { name: `enterprises/${code}` });
        if (mine !== generation) return;
        if (fromUser) {
          // Back from the firm returns to this list without the code.
          state.q = '';
          writeQuery();
          location.hash = `#/firms/${encodeURIComponent(code)}`;
        } else {
          location.replace(`#/firms/${encodeURIComponent(code)}`);
        }
        return;
      } catch (e) {
        if (mine !== generation) return;
        if (e instanceof ApiError && e.code === 'NOT_FOUND') {
          let detail = '';
          try {
            const v = await call('EnterpriseService', 'ValidateCreditCode', { credit_code: code });
            if (!v.valid) detail = `该代码校验未通过：${v.problems.join('；')}`;
            else detail = `代码有效（${v.organisation_type_label || v.organisation_type}${v.region_name ? `，${v.region_name}` : ''}），但尚未登记。`;
          } catch { /* the lookup is a courtesy */ }
          notes.push(h('div', { class: 'notice', id: 'code-not-found' }, `没有信用代码为 ${code} 的企业。`, detail));
          nameQuery = '';
          fill(results, notes);
          return;
        }
        if (!(e instanceof ApiError && e.code === 'INVALID_ARGUMENT')) {
          fill(results, errorBox(e));
          return;
        }
        // Not a code after all: search it as a name.
      }
    }
    // The kind walk lists live firms in code order: those two choices do not apply.
    orderSel.disabled = deletedBox.disabled = !!state.kind;
    const conds = conditions(nameQuery);
    const filter = conds.join(' AND ');
    fill(summary, describe(filter));
    let tableEl;
    if (state.kind) {
      notes.push(h('div', { class: 'muted kind-note' },
        `按认定类型筛选：列出今天持有有效「${kindLabel(state.kind)}」认定的企业（不含已删除企业；总数取自梯度漏斗统计）。`));
      tableEl = pagedTable({
        title: `企业名录-${kindLabel(state.kind)}`,
        columns: columns(nameQuery),
        fetchPage: kindFetcher(call, state.kind, conds),
        empty: '没有符合条件的企业',
      });
    } else {
      tableEl = pagedTable({
        title: '企业名录',
        columns: columns(nameQuery),
        fetchPage: async (token, size) => {
          const r = await call('EnterpriseService', 'ListEnterprises', {
            page_size: size, page_token: token, filter, order_by: state.order, show_deleted: state.deleted,
          });
          return { rows: r.enterprises, next: r.next_page_token, total: r.total_size, estimated: r.total_size_estimated };
        },
        empty: nameQuery ? `没有名称或曾用名包含「${nameQuery}」的企业` : '没有符合条件的企业',
      });
    }
    if (mine !== generation) return;
    fill(results, h('div', { class: 'card' }, notes, tableEl));
  }

  function describe(filter) {
    const parts = [];
    if (state.q) parts.push(`名称含「${state.q}」（含曾用名）`);
    if (state.stage) parts.push(`梯度：${stageLabel(state.stage)}`);
    if (state.zone) parts.push(`片区：${zoneName(who, state.zone)}`);
    if (state.industry) parts.push(`行业：${state.industry} 及其下级`);
    if (state.alliance) parts.push(`联盟：${allianceSel.selectedOptions[0] ? allianceSel.selectedOptions[0].textContent : state.alliance}`);
    if (state.kind) parts.push(`认定：${kindLabel(state.kind)}`);
    if (state.tag) parts.push(`标签：${state.tag}`);
    if (state.deleted) parts.push('含已删除');
    if (!parts.length) return null;
    return h('div', { class: 'muted' }, '当前条件：', parts.join(' · '),
      filter ? h('code', { class: 'filter-text', title: 'ListEnterprises filter' }, filter) : null);
  }

  run(false);
}

/**
 * Pages of firms holding a designation kind valid today (ListEnterprises has
 * no such condition): walks ListDesignations of that kind across all firms
 * (ordered by firm), keeps the firms it counts for today, and checks them
 * against the other conditions with ListEnterprises, a batch at a time. The
 * total is the funnel's count of the kind for the same conditions.
 */
function kindFetcher(call, kind, conds) {
  const today = todayCst();
  const base = conds.join(' AND ');
  let totalP = null;
  const total = () => {
    totalP = totalP || call('CultivationService', 'GetFunnel', { filter: base })
      .then((f) => ((f.by_kind || []).find((k) => k.kind === kind) || { count: 0 }).count);
    return totalP;
  };
  const batch = Math.max(1, 16 - conds.length);
  return async (token, size) => {
    const totalNow = total();
    let { t, last } = token ? JSON.parse(token) : { t: '', last: '' };
    const rows = [];
    let next = '';
    for (let pages = 0; ; pages++) {
      const r = await call('CultivationService', 'ListDesignations', {
        parent: 'enterprises/-', filter: `kind = ${kind}`, page_size: 500, page_token: t,
      });
      const seen = new Set();
      const cands = [];
      for (const d of r.designations) {
        const c = codeOf(d.name).split('/')[0];
        if (c <= last || seen.has(c) || !countsOn(d, today)) continue;
        seen.add(c);
        cands.push(c);
      }
      const chunks = [];
      for (let i = 0; i < cands.length; i += batch) chunks.push(cands.slice(i, i + batch));
      const found = await Promise.all(chunks.map((chunk) => {
        const any = chunk.map((c) => `credit_code = ${quote(c)}`).join(' OR ');
        return call('EnterpriseService', 'ListEnterprises', {
          page_size: chunk.length, filter: base ? `${base} AND (${any})` : any,
        });
      }));
      const byCode = new Map();
      for (const f of found) for (const e of f.enterprises) byCode.set(e.credit_code, e);
      let i = 0;
      for (; i < cands.length && rows.length < size; i++) {
        last = cands[i];
        const e = byCode.get(cands[i]);
        if (e) rows.push(e);
      }
      const rest = i < cands.length;
      if (rows.length >= size) {
        next = rest || r.next_page_token ? JSON.stringify({ t: rest ? t : r.next_page_token, last }) : '';
        break;
      }
      if (!r.next_page_token) break;
      t = r.next_page_token;
      if (pages >= 7) {
        // A short page rather than a long wait: the next one resumes here.
        next = JSON.stringify({ t, last });
        break;
      }
    }
    return { rows, next, total: await totalNow };
  };
}

// ---------------------------------------------------------------- a firm

async function renderFirm(root, ctx, rawCode) {
  const { who, call } = ctx;
  const code = normCode(rawCode);
  const name = `enterprises/${code}`;
  const quiet = (p) => { p.catch(() => {}); return p; };
  // Everything the page shows, asked for at once.
  const pRec = quiet(call('EnterpriseService', 'GetEnterprise', { name }));
  const pStage = quiet(call('CultivationService', 'GetEnterpriseStage', { name }));
  const pDes = quiet(listAll(call, 'CultivationService', 'ListDesignations', { parent: name }, 'designations', 1000));
  const pMem = quiet(listAll(call, 'AllianceService', 'ListMemberships', { parent: 'alliances/-', filter: `credit_code = ${quote(code)}` }, 'memberships', 1000));
  const pInd = quiet(call('CultivationService', 'ListAnnualIndicators', { parent: name }));

  const crumbs = h('div', { class: 'crumbs' }, h('a', { href: '#/firms' }, '企业'), ' › ', h('span', {}, code));
  fill(root, crumbs, h('div', { class: 'loading' }, '加载中…'));
  let rec;
  try {
    rec = await pRec;
  } catch (e) {
    fill(root, crumbs, errorBox(e),
      e instanceof ApiError && e.code === 'NOT_FOUND'
        ? h('p', {}, `没有信用代码为 ${code} 的企业。`, h('a', { href: `#/firms?q=${encodeURIComponent(code)}` }, '在企业名录中搜索'))
        : null);
    return;
  }
  fill(crumbs, h('a', { href: '#/firms' }, '企业'), ' › ', h('span', {}, rec.display_name));
  document.title = `${rec.display_name} · 企业 · ladder`;
  const today = todayCst();

  const head = h('div', { class: 'card firm-head' });
  const kpis = h('div', { class: 'kpis firm-kpis' });
  const recordCard = h('section', { class: 'card', id: 'firm-record' });
  const timelineCard = h('section', { class: 'card', id: 'firm-ladder' });
  const memberCard = h('section', { class: 'card', id: 'firm-alliances' });
  const indCard = h('section', { class: 'card', id: 'firm-indicators' });
  const sdCard = h('section', { class: 'card', id: 'firm-supply' });
  const histCard = h('section', { class: 'card', id: 'firm-history' });
  const tabs = h('nav', { class: 'tabs firm-tabs', 'aria-label': '页面分区' },
    [['档案', recordCard], ['梯度与认定', timelineCard], ['联盟', memberCard], ['年度指标', indCard],
      ['供需对接', sdCard], ['变更记录', histCard]].map(([label, el]) =>
      h('a', { role: 'button', tabindex: '0', onclick: () => jump(el), onkeydown: (e) => { if (e.key === 'Enter') jump(el); } }, label)));
  fill(root, crumbs, head, kpis, tabs, recordCard, timelineCard, memberCard, indCard, sdCard, histCard);

  const reload = () => renderFirm(root, ctx, rec.credit_code);
  drawHead(head, rec, who, () => openEdit(), { call, onChanged: reload });
  drawKpis(kpis, rec, pStage, pDes, pMem, pInd, today, { ladder: timelineCard, alliances: memberCard, indicators: indCard });
  const showRecord = () => {
    fill(recordCard, h('h2', {}, '企业档案'), recordView(rec, who));
  };
  showRecord();
  const openEdit = () => {
    if (!who.may_write || rec.delete_time) return;
    editForm(recordCard, rec, ctx, { onSaved: reload, onCancel: showRecord, onReload: reload });
    jump(recordCard);
  };

  // The ladder: time axis, stage history, designations.
  fill(timelineCard, h('h2', {}, '梯度与认定'), h('div', { id: 'timeline-box' }));
  load(timelineCard.lastChild, async () => {
    const [stage, designations] = await Promise.all([pStage.catch(() => null), pDes]);
    const asOf = (stage && stage.as_of) || today;
    return ladderView(rec, stage, designations, asOf);
  });

  fill(memberCard, h('h2', {}, '产业联盟'), h('div'));
  load(memberCard.lastChild, async () => membershipsView(await pMem.catch(() => null), rec));

  fill(indCard, h('h2', {}, '年度指标'), h('div'));
  load(indCard.lastChild, async () => indicatorsView((await pInd).indicators, rec));

  fill(sdCard,
    h('div', { class: 'card-head' }, h('h2', {}, '供需对接'),
      h('a', { href: `#/supply?tab=postings&code=${encodeURIComponent(rec.credit_code)}`, class: 'more' }, '在供需对接中查看 →')),
    h('h3', {}, '供需信息'), postingsView(call, rec),
    h('h3', {}, '对接记录'), matchesView(call, rec));

  historyView(histCard, call, rec, pDes, pMem, pInd);
}

async function listAll(call, service, method, request, key, pageSize) {
  const out = [];
  let token = '';
  do {
    const r = await call(service, method, { ...request, page_size: pageSize, page_token: token });
    out.push(...r[key]);
    token = r.next_page_token;
  } while (token && out.length < 20000);
  return out;
}

/**
 * Delete (退出名录, with a reason, etag-checked) or restore the firm; the
 * server refuses a delete of an alliance member or a firm an active project
 * names, and the page shows why.
 */
function lifecycleActions(rec, who, { call, onChanged }) {
  if (!who.may_write) return null;
  const box = h('div', { class: 'firm-lifecycle' });
  const name = `enterprises/${rec.credit_code}`;
  const run = async (button, method, request, done) => {
    button.disabled = true;
    try {
      await call('EnterpriseService', method, request);
      toast(done);
      onChanged();
    } catch (e) {
      fill(box, errorBox(e));
      button.disabled = false;
    }
  };
  if (rec.delete_time) {
    const restore = h('button', { type: 'button', id: 'undelete-firm', onclick: () =>
      run(restore, 'UndeleteEnterprise', { name, etag: rec.etag }, '已恢复') }, '恢复企业');
    return h('div', {}, restore, box);
  }
  const del = h('button', { type: 'button', class: 'secondary danger-text', id: 'delete-firm', onclick: () => {
    const reason = window.prompt(`将「${rec.display_name}」移出名录（软删除，可恢复）。请填写原因：`, '');
    if (reason === null) return;
    if (!reason.trim()) {
      fill(box, errorBox(new Error('请填写删除原因')));
      return;
    }
    run(del, 'DeleteEnterprise', { name, etag: rec.etag, reason: reason.trim() }, '已移出名录');
  } }, '移出名录');
  return h('div', {}, del, box);
}

function drawHead(head, rec, who, onEdit, lifecycle) {
  const deleted = !!rec.delete_time;
  fill(head,
    h('div', { class: 'firm-title' },
      h('h1', { id: 'firm-name' }, rec.display_name),
      h('div', { class: 'firm-sub' },
        stageBadge(rec.stage),
        rec.stage_since ? h('span', { class: 'muted' }, `自 ${rec.stage_since}`) : null,
        h('code', { class: 'firm-code', title: '统一社会信用代码' }, rec.credit_code),
        rec.organisation_type_label ? h('span', { class: 'tag' }, rec.organisation_type_label) : null,
        rec.promotion_zone ? h('span', { class: 'tag' }, zoneName(who, rec.promotion_zone)) : null,
        deleted ? h('span', { class: 'deleted-badge' }, '已删除') : null)),
    h('div', { class: 'firm-actions' },
      who.may_write && !deleted ? h('button', { type: 'button', id: 'edit-firm', onclick: onEdit }, '编辑档案') : null,
      lifecycleActions(rec, who, lifecycle)),
    deleted ? h('div', { class: 'warnbox firm-deleted' },
      `此企业已于 ${fmtTime(rec.delete_time)} 删除（退出名录）${rec.delete_reason ? `，原因：${rec.delete_reason}` : ''}。记录仍可查阅；如需修改，请先恢复${who.may_write ? '（右上角“恢复企业”）' : '（需编辑权限）'}。`) : null);
}

function drawKpis(el, rec, pStage, pDes, pMem, pInd, today, targets) {
  const kpi = (n, l, target) => h('div', {
    class: 'kpi', role: target ? 'button' : null, tabindex: target ? '0' : null,
    onclick: target ? () => jump(target) : null,
    onkeydown: target ? (e) => { if (e.key === 'Enter') jump(target); } : null,
  }, h('span', { class: 'n' }, n), h('span', { class: 'l' }, l));
  const render = (des, mem, ind) => {
    const valid = des ? des.filter((d) => countsOn(d, today)) : null;
    const expiring = des ? des.filter((d) => designationState(d, today) === 'expiring') : null;
    const activeMem = mem ? mem.filter((m) => m.state === 'MEMBERSHIP_STATE_ACTIVE') : rec.memberships;
    const latest = ind && ind.length ? ind[0] : null;
    fill(el,
      kpi(stageLabel(rec.stage) || '未入梯', rec.stage_since ? `当前梯度 · 自 ${rec.stage_since}` : '当前梯度', targets.ladder),
      kpi(valid ? String(valid.length) : '…', '有效认定', targets.ladder),
      kpi(expiring ? String(expiring.length) : '…', `${EXPIRY_WINDOW_DAYS} 天内到期`, targets.ladder),
      kpi(String(activeMem.length), '所在联盟', targets.alliances),
      kpi(latest && latest.revenue !== undefined ? fmtNum(latest.revenue, 0) : '—',
        latest ? `${latest.year} 年营业收入（万元）` : '营业收入（万元）', targets.indicators));
    const [, , exp] = el.children;
    if (exp && expiring && expiring.length) exp.classList.add('warn-kpi');
  };
  render(null, null, null);
  Promise.all([pDes.catch(() => null), pMem.catch(() => null), pInd.then((r) => r.indicators).catch(() => null)])
    .then(([d, m, i]) => render(d, m, i));
}

// ------------------------------------------------------------ record view

function recordView(rec, who) {
  const dash = (v) => (v === '' || v === undefined || v === null ? h('span', { class: 'muted' }, '—') : v);
  const pair = (label, value) => [h('dt', {}, label), h('dd', {}, dash(value))];
  const withName = (c, n) => (c ? [h('code', {}, c), n ? ` ${n}` : ''] : '');
  const region = rec.region_code
    ? [withName(rec.region_code, rec.region_name),
      rec.registration_region_code && rec.registration_region_code !== rec.region_code
        ? h('span', { class: 'muted' }, `（登记机关区划 ${rec.registration_region_code}）`) : null]
    : '';
  const contacts = rec.contacts.length
    ? h('ul', { class: 'contacts' }, rec.contacts.map((c) => h('li', {},
      h('strong', {}, c.name), c.title ? h('span', { class: 'muted' }, ` ${c.title}`) : null,
      c.phone ? [' · ', h('span', { class: 'phone' }, c.phone)] : null,
      c.email ? [' · ', h('span', {}, c.email)] : null)))
    : '';
  const website = rec.website
    ? (/^https?:\/\//i.test(rec.website)
      ? h('a', { href: rec.website, target: '_blank', rel: 'noopener noreferrer' }, rec.website)
      : rec.website)
    : '';
  const override = rec.credit_code_override;
  return h('div', { class: 'record-cols' },
    h('dl', { class: 'record' },
      pair('企业名称', h('strong', {}, rec.display_name)),
      pair('统一社会信用代码', h('code', {}, rec.credit_code)),
      pair('曾用名', rec.former_names.length
        ? h('ul', { class: 'former' }, rec.former_names.map((f) => h('li', {}, f.display_name,
          h('span', { class: 'muted' }, ` （改名记录于 ${fmtTime(f.change_time)}）`))))
        : ''),
      pair('梯度', [stageBadge(rec.stage), rec.stage_since ? h('span', { class: 'muted' }, ` 自 ${rec.stage_since}`) : null]),
      pair('机构类型', rec.organisation_type ? [h('code', {}, rec.organisation_type), ` ${rec.organisation_type_label}`] : ''),
      pair('行业', rec.industry_code
        ? h('a', { href: `#/firms?industry=${encodeURIComponent(rec.industry_code)}`, title: '同行业企业' }, withName(rec.industry_code, rec.industry_name))
        : ''),
      pair('注册地', region),
      pair('成立日期', rec.founding_date),
      pair('注册地址', rec.address),
      pair('法定代表人', rec.legal_representative)),
    h('dl', { class: 'record' },
      pair('招商片区', rec.promotion_zone
        ? h('a', { href: `#/firms?zone=${encodeURIComponent(rec.promotion_zone)}`, title: '同片区企业' },
          zoneName(who, rec.promotion_zone), rec.promotion_zone !== zoneName(who, rec.promotion_zone) ? h('span', { class: 'muted' }, ` (${rec.promotion_zone})`) : null)
        : ''),
      pair('服务专员', rec.service_commissioner),
      pair('联系人', contacts),
      pair('标签', rec.tags.length ? rec.tags.map((t) => h('a', { class: 'tag', href: `#/firms?tag=${encodeURIComponent(t)}` }, t)) : ''),
      pair('网站', website),
      pair('备注', rec.notes ? h('div', { class: 'notes' }, rec.notes) : ''),
      pair('所在联盟', rec.memberships.length
        ? rec.memberships.map((m) => h('a', { class: 'tag', href: `#/alliances/${encodeURIComponent(m.alliance.replace(/^alliances\//, ''))}` },
          m.alliance_display_name || m.alliance, ` · ${ROLE_LABELS[m.role] || ''}`))
        : ''),
      override ? pair('代码核验', h('span', {}, `管理员 ${override.actor} 于 ${fmtTime(override.time)} 核验通过：${override.reason}`,
        override.problems.length ? h('span', { class: 'muted' }, `（${override.problems.join('；')}）`) : null)) : null,
      pair('登记时间', fmtTime(rec.create_time)),
      pair('更新时间', fmtTime(rec.update_time)),
      pair('版本', h('span', { class: 'muted' }, '修订号 ', h('code', { id: 'firm-revision' }, rec.revision), ' · etag ', h('code', { id: 'firm-etag' }, rec.etag))),
      rec.delete_time ? pair('删除', `${fmtTime(rec.delete_time)} ${rec.delete_reason}`) : null));
}

// ------------------------------------------------------------ editing

/** The fields the form edits: [proto field, label, input kind, hint]. */
const EDIT_FIELDS = [
  ['display_name', '企业名称', 'text', '改名后旧名称自动记入曾用名'],
  ['industry_code', '行业代码', 'text', 'GB/T 4754，如 C3742 或 3742'],
  ['region_code', '注册地区划', 'text', '6 位 GB/T 2260 代码'],
  ['founding_date', '成立日期', 'date', ''],
  ['legal_representative', '法定代表人', 'text', ''],
  ['promotion_zone', '招商片区', 'zone', ''],
  ['service_commissioner', '服务专员', 'text', '姓名或工号'],
  ['website', '网站', 'text', ''],
  ['address', '注册地址', 'wide', ''],
  ['tags', '标签', 'wide', '多个标签以逗号或顿号（、）分隔'],
  ['contacts', '联系人', 'contacts', '每行一人：姓名 | 职务 | 电话 | 邮箱'],
  ['notes', '备注', 'textarea', ''],
];

function camel(f) {
  return f.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

function parseTags(text) {
  const out = [];
  for (const t of String(text).split(/[,，、;；\n]+/)) {
    const v = t.trim();
    if (v && !out.includes(v)) out.push(v);
  }
  return out;
}

function parseContacts(text) {
  return String(text).split('\n').map((l) => l.trim()).filter(Boolean).map((l) => {
    const [n = '', title = '', phone = '', email = ''] = l.split(/\s*[|｜]\s*/);
    return { name: n.trim(), title: title.trim(), phone: phone.trim(), email: email.trim() };
  });
}

/** A record's field as the form shows it. */
function formText(rec, f) {
  if (f === 'tags') return rec.tags.join('、');
  if (f === 'contacts') return rec.contacts.map((c) => [c.name, c.title, c.phone, c.email].join(' | ').replace(/( \| )+$/, '')).join('\n');
  return rec[f] || '';
}

/** A form text reduced to what the server would store, for comparing. */
function canon(f, text) {
  if (f === 'tags') return JSON.stringify(parseTags(text));
  if (f === 'contacts') return JSON.stringify(parseContacts(text));
  return String(text).trim();
}

/** A form text as the request value. */
function requestValue(f, text) {
  if (f === 'tags') return parseTags(text);
  if (f === 'contacts') return parseContacts(text);
  return String(text).trim();
}

function showValue(f, text, who) {
  const v = String(text).trim();
  if (!v) return h('span', { class: 'muted' }, '（空）');
  if (f === 'promotion_zone') return zoneName(who, v);
  if (f === 'contacts') return h('span', { class: 'pre' }, v);
  return v;
}

const SUB_FIELDS = { name: '姓名', title: '职务', phone: '电话', email: '邮箱' };

/** `[0].phone` → `第 1 人电话：` (a violation's path inside a field). */
function subField(rest) {
  if (!rest) return '';
  const m = /^\[(\d+)\](?:\.(\w+))?/.exec(rest);
  if (!m) return `${rest}：`;
  return `第 ${Number(m[1]) + 1} 项${m[2] ? SUB_FIELDS[m[2]] || m[2] : ''}：`;
}

function editForm(card, opened, ctx, { onSaved, onCancel, onReload }) {
  const { who, call } = ctx;
  // `base` is the version the edits apply to: the record as opened, or the
  // stored one after a conflict was resolved by keeping the edits.
  let base = opened;
  const inputs = {};
  const cells = {};
  for (const [f, label, kind, hint] of EDIT_FIELDS) {
    let input;
    if (kind === 'zone' && (who.zones || []).length) {
      input = h('select', { name: f },
        h('option', { value: '' }, '（无）'),
        who.zones.map((z) => h('option', { value: z.id }, `${z.display_name || z.id}${z.department ? ` · ${z.department}` : ''}`)),
        opened.promotion_zone && !who.zones.some((z) => z.id === opened.promotion_zone)
          ? h('option', { value: opened.promotion_zone }, `${opened.promotion_zone}（未配置）`) : null);
    } else if (kind === 'textarea' || kind === 'contacts') {
      input = h('textarea', { name: f, rows: kind === 'contacts' ? 3 : 4 });
    } else {
      input = h('input', { name: f, type: kind === 'date' ? 'date' : 'text', autocomplete: 'off', max: kind === 'date' ? todayCst() : null });
    }
    if (f === 'display_name') input.required = true;
    input.value = formText(opened, f);
    input.addEventListener('input', () => markDirty(f));
    input.addEventListener('change', () => markDirty(f));
    inputs[f] = input;
    const msg = h('span', { class: 'field-error', role: 'alert' });
    const other = h('span', { class: 'field-other' });
    cells[f] = { msg, other };
    const wrap = field(label, input, hint || null);
    wrap.dataset.field = f;
    if (kind === 'wide' || kind === 'textarea' || kind === 'contacts') wrap.classList.add('wide');
    wrap.append(other, msg);
    cells[f].wrap = wrap;
  }
  const problems = h('div', { class: 'form-problems' });
  const conflictBox = h('div', { class: 'conflict-slot' });
  const save = h('button', { type: 'submit', id: 'save-firm' }, '保存');
  const dirtyNote = h('span', { class: 'muted dirty-note' });
  const form = h('form', { id: 'firm-form', class: 'firm-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); submit(); } },
    problems,
    h('div', { class: 'form-grid' }, EDIT_FIELDS.map(([f]) => cells[f].wrap)),
    h('div', { class: 'toolbar form-actions' },
      save,
      h('button', { type: 'button', class: 'secondary', id: 'cancel-edit', onclick: () => onCancel() }, '取消'),
      dirtyNote,
      h('span', { class: 'spacer' }),
      h('span', { class: 'muted' }, '基于版本 ', h('code', { class: 'base-etag' }, base.etag))));
  fill(card, h('h2', {}, '编辑企业档案'),
    h('p', { class: 'muted' }, '只保存您改动过的字段；若他人在此期间修改了本记录，保存时会提示冲突，您的填写不会丢失。'),
    conflictBox, form);
  inputs.display_name.focus();

  function changedFields() {
    return EDIT_FIELDS.map(([f]) => f).filter((f) => canon(f, inputs[f].value) !== canon(f, formText(base, f)));
  }

  function markDirty() {
    const changed = changedFields();
    for (const [f] of EDIT_FIELDS) cells[f].wrap.classList.toggle('dirty', changed.includes(f));
    fill(dirtyNote, changed.length ? `已改动 ${changed.length} 项` : '');
  }

  function clearMarks() {
    fill(problems);
    for (const [f] of EDIT_FIELDS) {
      cells[f].wrap.classList.remove('invalid');
      inputs[f].removeAttribute('aria-invalid');
      fill(cells[f].msg);
    }
  }

  async function submit() {
    clearMarks();
    const changed = changedFields();
    if (!changed.length) {
      fill(problems, h('div', { class: 'notice' }, '没有需要保存的改动。'));
      return;
    }
    const enterprise = { name: base.name };
    for (const f of changed) enterprise[f] = requestValue(f, inputs[f].value);
    save.disabled = true;
    fill(save, '保存中…');
    try {
      const updated = await call('EnterpriseService', 'UpdateEnterprise', {
        enterprise, update_mask: changed.map(camel).join(','), etag: base.etag,
      });
      toast('已保存');
      onSaved(updated);
    } catch (e) {
      save.disabled = false;
      fill(save, '保存');
      if (e instanceof ApiError && e.code === 'ABORTED') {
        await showConflict(e);
      } else if (e instanceof ApiError && e.code === 'INVALID_ARGUMENT') {
        showViolations(e);
      } else {
        fill(problems, errorBox(e));
        problems.scrollIntoView({ block: 'nearest' });
      }
    }
  }

  function showViolations(err) {
    let first = null;
    for (const v of err.violations) {
      const path = String(v.field || '').replace(/^enterprise\./, '');
      const f = path.split(/[.[]/)[0];
      if (cells[f]) {
        cells[f].wrap.classList.add('invalid');
        inputs[f].setAttribute('aria-invalid', 'true');
        cells[f].msg.append(h('span', {}, `${subField(path.slice(f.length))}${v.description}`));
        first = first || inputs[f];
      }
    }
    fill(problems, errorBox(err));
    problems.scrollIntoView({ behavior: 'smooth', block: 'start' });
    if (first) first.focus({ preventScroll: true });
  }

  async function showConflict(err) {
    fill(conflictBox, h('div', { id: 'conflict', class: 'conflict' }, errorBox(err), h('div', { class: 'loading' }, '正在读取当前存储的版本…')));
    const box = conflictBox.firstChild;
    let current;
    try {
      current = await call('EnterpriseService', 'GetEnterprise', { name: base.name });
    } catch (e) {
      box.append(errorBox(e));
      return;
    }
    // Who changed it meanwhile.
    let changes = [];
    try {
      const r = await call('ChangeService', 'ListChanges', {
        resource: base.name, start_revision: String(Number(base.revision) + 1), page_size: 20,
      });
      changes = r.changes;
    } catch { /* the table below still tells what changed */ }
    const rows = [];
    for (const [f, label] of EDIT_FIELDS) {
      const was = formText(base, f);
      const now = formText(current, f);
      const mine = inputs[f].value;
      const theirs = canon(f, now) !== canon(f, was);
      const yours = canon(f, mine) !== canon(f, was);
      if (!theirs && !yours) continue;
      const clash = theirs && yours && canon(f, mine) !== canon(f, now);
      rows.push(h('tr', { class: clash ? 'clash' : null, 'data-field': f },
        h('th', {}, label),
        h('td', {}, showValue(f, was, who)),
        h('td', { class: theirs ? 'theirs' : null }, showValue(f, now, who)),
        h('td', { class: yours ? 'mine' : null }, yours ? showValue(f, mine, who) : h('span', { class: 'muted' }, '（未改）'))));
      cells[f].wrap.classList.toggle('clash', clash);
      fill(cells[f].other, theirs ? h('span', {}, '他人已改为：', showValue(f, now, who)) : '');
    }
    const by = changes.length
      ? h('p', {}, '期间的修改：', changes.map((c, i) => [i ? '；' : '',
        `${fmtTime(c.time)} ${c.actor}${c.origin ? `（${ORIGIN_LABELS[c.origin] || c.origin}）` : ''} ${CHANGE_KIND_LABELS[c.kind] || c.kind}`,
        c.field_changes.length ? ` ${c.field_changes.map((x) => FIELD_LABELS[x.field] || x.field).join('、')}` : '']))
      : null;
    fill(box,
      errorBox(err),
      h('p', { class: 'conflict-lead' }, h('strong', {}, '保存未成功：此记录在您打开后已被他人修改。'),
        ` 您打开时的版本为 ${base.etag}，当前存储的版本为 ${current.etag}。您的填写仍保留在下方表单中。`),
      by,
      h('div', { class: 'table-wrap' }, h('table', { class: 'conflict-table' },
        h('thead', {}, h('tr', {}, h('th', {}, '字段'), h('th', {}, '您打开时'), h('th', {}, '当前存储（他人修改后）'), h('th', {}, '您的修改'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, '可编辑字段没有差异（他人改动的是其他内容）。'))))),
      h('div', { class: 'toolbar' },
        h('button', { type: 'button', id: 'reload-firm', class: 'secondary', onclick: () => onReload() }, '重新载入（放弃我的修改）'),
        h('button', { type: 'button', id: 'rebase-firm', onclick: () => rebase(current) }, '保留我的修改，基于最新版本继续编辑')),
      h('p', { class: 'muted' }, '“保留我的修改”会把您没有改动的字段更新为当前存储的值，您改过的字段保持您的填写；检查标红的冲突字段后再点“保存”。'));
    box.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  function rebase(current) {
    for (const [f] of EDIT_FIELDS) {
      const yours = canon(f, inputs[f].value) !== canon(f, formText(base, f));
      if (!yours) inputs[f].value = formText(current, f);
      fill(cells[f].other, '');
    }
    base = current;
    form.querySelector('.base-etag').textContent = base.etag;
    fill(conflictBox, h('div', { class: 'notice', id: 'rebased' },
      `已基于最新版本（${base.etag}）继续编辑：您改过的字段保留了您的填写，其余字段已更新为当前存储的值。请检查后再保存。`));
    markDirty();
  }
}

// ------------------------------------------------------------ the ladder

function ladderView(rec, stage, designations, today) {
  const history = stage ? stage.history : [];
  const spells = stage ? stage.spells : [];
  const desCols = [
    { title: '类型 KIND', get: (d) => kindLabel(d.kind) },
    { title: '梯度 STAGE', get: (d) => stageBadge(d.stage), text: (d) => stageLabel(d.stage) },
    { title: '状态 STATUS', get: (d) => statusCell(d, today), text: (d) => STATUS_LABELS[d.status] || d.status },
    { title: '起 FROM', get: (d) => d.valid_from, class: 'nowrap' },
    { title: '止 UNTIL', get: (d) => d.valid_until || (d.valid_from ? '长期' : ''), class: 'nowrap', text: (d) => d.valid_until },
    { title: '终止日期 DATE', get: (d) => d.ended_date ? h('span', { title: d.end_reason }, d.ended_date) : '', text: (d) => d.ended_date },
    { title: '终止原因 REASON', get: (d) => d.end_reason },
    { title: '证书 CERTIFICATE', get: (d) => d.certificate_number ? h('code', {}, d.certificate_number) : '', text: (d) => d.certificate_number },
    { title: '级别 LEVEL', get: (d) => LEVEL_LABELS[d.level] || '' },
    { title: '发证机关 AUTHORITY', get: (d) => d.authority },
    { title: '批次 BATCH', get: (d) => d.batch },
    { title: '编号 ID', get: (d) => h('code', { class: 'muted' }, d.name.split('/').pop()), text: (d) => d.name.split('/').pop() },
  ];
  const sorted = [...designations].sort((a, b) => (b.valid_from || '').localeCompare(a.valid_from || ''));
  const histCols = [
    { title: '日期 DATE', get: (c) => c.date, class: 'nowrap' },
    { title: '梯度 STAGE', get: (c) => h('span', { class: 'nowrap' }, stageBadge(c.from_stage), ' → ', stageBadge(c.to_stage)),
      text: (c) => `${stageLabel(c.from_stage)} → ${stageLabel(c.to_stage)}` },
    { title: '起因 CAUSE', get: (c) => h('span', { class: stageRank(c.to_stage) > stageRank(c.from_stage) ? 'ok' : 'bad' }, CAUSE_LABELS[c.cause] || c.cause),
      text: (c) => CAUSE_LABELS[c.cause] || c.cause },
    { title: '认定 DESIGNATION', get: (c) => kindLabel(c.designation_kind) },
    { title: '经办 BY', get: (c) => (c.actor === 'system' ? '系统' : c.actor) },
    { title: '说明 REASON', get: (c) => (c.reason === 'validity ended' ? '有效期届满' : c.reason) },
  ];
  const spellCols = [
    { title: '梯度 STAGE', get: (p) => stageBadge(p.stage), text: (p) => stageLabel(p.stage) },
    { title: '进入 ENTERED', get: (p) => p.entered },
    { title: '离开 EXITED', get: (p) => p.exited || h('span', { class: 'muted' }, '至今'), text: (p) => p.exited },
    { title: '天数 DAYS', get: (p) => fmtNum(p.days), text: (p) => raw(p.days), class: 'num' },
  ];
  const stageLine = stage
    ? h('p', { class: 'stage-line' }, '今天（', today, '）处于 ', stageBadge(stage.stage),
      stage.stage_since ? ` ，自 ${stage.stage_since} 起连续 ${fmtNum(daysBetween(stage.stage_since, today))} 天` : '',
      stage.valid_designations.length ? `；依据有效认定：${stage.valid_designations.map((d) => kindLabel(d.kind)).join('、')}` : '；没有有效认定')
    : h('div', { class: 'warnbox' }, '梯度历史暂时无法读取，时间轴只显示认定。');
  return h('div', {},
    stageLine,
    h('div', { id: 'timeline', class: 'timeline-wrap' }, timelineView({ stage, designations, today })),
    h('div', { class: 'ladder-tables' },
      h('div', { class: 'sub' },
        h('div', { class: 'sub-head' }, h('h3', {}, `认定记录（${designations.length}）`), h('span', { class: 'spacer' }),
          exportButton(`${rec.display_name}-认定记录`, desCols, () => sorted)),
        table(desCols, sorted, { empty: '暂无认定记录' })),
      h('div', { class: 'grid two' },
        h('div', { class: 'sub' },
          h('div', { class: 'sub-head' }, h('h3', {}, '梯度变化'), h('span', { class: 'spacer' }),
            exportButton(`${rec.display_name}-梯度变化`, histCols, () => history)),
          table(histCols, [...history].reverse(), { empty: '从未入梯' })),
        h('div', { class: 'sub' },
          h('div', { class: 'sub-head' }, h('h3', {}, '各阶段用时'), h('span', { class: 'spacer' }),
            exportButton(`${rec.display_name}-各阶段用时`, spellCols, () => spells)),
          table(spellCols, spells, { empty: '从未入梯' })))));
}

function stageRank(stage) {
  return Math.max(0, STAGES.findIndex(([k]) => k === stage));
}

function statusCell(d, today) {
  const st = designationState(d, today);
  const label = STATUS_LABELS[d.status] || d.status;
  const extra = {
    expiring: h('span', { class: 'warn' }, ` · ${daysBetween(today, lastDay(d))} 天后到期`),
    expired: h('span', { class: 'muted' }, ' · 已过期'),
    future: h('span', { class: 'muted' }, ' · 未生效'),
  }[st];
  const cls = { active: 'ok', expiring: 'warn', revoked: 'bad', lapsed: 'bad', expired: 'muted' }[st] || '';
  return h('span', { class: `nowrap ${cls}` }, label, extra || null,
    d.barred_until ? h('span', { class: 'muted' }, ` · 禁报至 ${d.barred_until}`) : null,
    d.corrected ? h('span', { class: 'muted', title: '类型、状态或日期在录入后被更正过' }, ' · 已更正') : null);
}

// ------------------------------------------------------------ memberships

function membershipsView(memberships, rec) {
  const allianceLink = (id, label) => h('a', { href: `#/alliances/${encodeURIComponent(id)}` }, label || id);
  if (!memberships) {
    // The roster lookup failed: show the active ones the record carries.
    const cols = [
      { title: '联盟 ALLIANCE', get: (m) => allianceLink(m.alliance.replace(/^alliances\//, ''), m.alliance_display_name), text: (m) => m.alliance_display_name },
      { title: '角色 ROLE', get: (m) => ROLE_LABELS[m.role] || m.role },
      { title: '加入 JOINED', get: (m) => m.join_date },
    ];
    return h('div', {}, h('div', { class: 'warnbox' }, '成员历史暂时无法读取，只显示当前所在联盟。'), table(cols, rec.memberships, { empty: '未加入任何联盟' }));
  }
  const rows = [...memberships].sort((a, b) =>
    (a.state === b.state ? 0 : a.state === 'MEMBERSHIP_STATE_ACTIVE' ? -1 : 1) || b.join_date.localeCompare(a.join_date));
  const cols = [
    { title: '联盟 ALLIANCE', get: (m) => allianceLink(m.name.split('/')[1], m.alliance_display_name), text: (m) => m.alliance_display_name || m.name.split('/')[1] },
    { title: '角色 ROLE', get: (m) => ROLE_LABELS[m.role] || m.role },
    { title: '状态 STATE', get: (m) => (m.state === 'MEMBERSHIP_STATE_ACTIVE' ? h('span', { class: 'ok' }, '在册') : h('span', { class: 'muted' }, '已退出')),
      text: (m) => (m.state === 'MEMBERSHIP_STATE_ACTIVE' ? '在册' : '已退出') },
    { title: '加入 JOINED', get: (m) => m.join_date, class: 'nowrap' },
    { title: '退出日期 END DATE', get: (m) => m.end_date, class: 'nowrap' },
    { title: '退出原因 REASON', get: (m) => END_REASON_LABELS[m.end_reason] || '' },
    { title: '经历 HISTORY', get: (m) => h('span', { class: 'events' }, m.events.map((ev, i) => [i ? '；' : '',
      `${ev.date} ${MEMBERSHIP_EVENT_LABELS[ev.kind] || ev.kind}`,
      ev.kind === 'MEMBERSHIP_EVENT_KIND_ENDED' ? (END_REASON_LABELS[ev.end_reason] ? `（${END_REASON_LABELS[ev.end_reason]}）` : '') : (ROLE_LABELS[ev.role] ? `（${ROLE_LABELS[ev.role]}）` : '')])),
    text: (m) => m.events.map((ev) => `${ev.date} ${MEMBERSHIP_EVENT_LABELS[ev.kind] || ev.kind}`).join('；') },
    { title: '备注 NOTE', get: (m) => m.note },
  ];
  return h('div', {},
    h('div', { class: 'sub-head' }, h('span', { class: 'muted' },
      `在册 ${rows.filter((m) => m.state === 'MEMBERSHIP_STATE_ACTIVE').length} 个联盟，共 ${rows.length} 条成员资格`),
    h('span', { class: 'spacer' }), exportButton(`${rec.display_name}-联盟`, cols, () => rows)),
    table(cols, rows, { empty: '未加入任何联盟' }));
}

// ------------------------------------------------------------ indicators

function indicatorsView(list, rec) {
  const byYear = new Map(list.map((x) => [x.year, x]));
  const growth = (x) => {
    const prev = byYear.get(x.year - 1);
    if (!prev || prev.revenue === undefined || x.revenue === undefined || !prev.revenue) return undefined;
    return ((x.revenue - prev.revenue) / prev.revenue) * 100;
  };
  const intensity = (x) => (x.rd_expense !== undefined && x.revenue ? (x.rd_expense / x.revenue) * 100 : undefined);
  const debt = (x) => (x.total_liabilities !== undefined && x.total_assets ? (x.total_liabilities / x.total_assets) * 100 : undefined);
  const pct = (v) => (v === undefined ? '' : `${fmtNum(v, 1)}%`);
  const pctText = (v) => (v === undefined ? '' : `${v.toFixed(2)}%`);
  const money = (key, title) => ({ title, get: (x) => num(x[key]), text: (x) => raw(x[key]), class: 'num' });
  const cols = [
    { title: '年度 YEAR', get: (x) => String(x.year), text: (x) => String(x.year) },
    money('revenue', '营业收入(万元) REVENUE'),
    { title: '营收增长率 GROWTH RATE', get: (x) => { const g = growth(x); return g === undefined ? '' : h('span', { class: g >= 0 ? 'ok' : 'bad' }, pct(g)); }, text: (x) => pctText(growth(x)), class: 'num' },
    money('main_business_revenue', '主营业务收入(万元) MAIN'),
    money('rd_expense', '研发费用(万元) R&D'),
    { title: '研发强度 R&D RATE', get: (x) => pct(intensity(x)), text: (x) => pctText(intensity(x)), class: 'num' },
    money('high_tech_revenue', '高新收入(万元) HT REV'),
    { title: '从业人员 STAFF', get: (x) => num(x.employees, 0), text: (x) => raw(x.employees), class: 'num' },
    { title: '科技人员 TECH STAFF', get: (x) => num(x.tech_staff, 0), text: (x) => raw(x.tech_staff), class: 'num' },
    money('total_assets', '资产总额(万元) ASSETS'),
    money('total_liabilities', '负债总额(万元) DEBT'),
    { title: '资产负债率 DEBT RATE', get: (x) => pct(debt(x)), text: (x) => pctText(debt(x)), class: 'num' },
    money('equity_financing', '股权融资(万元) FINANCING'),
    money('valuation', '估值(万元) VALUATION'),
    { title: '来源 SOURCE', get: (x) => x.source },
    { title: '更新时间 TIME (UTC+8)', get: (x) => fmtTime(x.update_time), class: 'nowrap' },
  ];
  return h('div', {},
    h('div', { class: 'sub-head' }, h('span', { class: 'muted' }, '金额单位：万元；空白表示未填报（不是 0）。研发强度 = 研发费用 ÷ 营业收入。'),
      h('span', { class: 'spacer' }), exportButton(`${rec.display_name}-年度指标`, cols, () => list)),
    table(cols, list, { empty: '尚无年度指标', class: 'indicators' }));
}

// ------------------------------------------------------------ supply and demand

function postingsView(call, rec) {
  const cols = [
    { title: '编号 ID', get: (p) => h('a', { href: `#/supply/postings/${encodeURIComponent(p.name.replace(/^postings\//, ''))}` }, h('code', {}, p.name.replace(/^postings\//, ''))),
      text: (p) => p.name.replace(/^postings\//, '') },
    { title: '类型 KIND', get: (p) => h('span', { class: `pk ${p.kind === 'POSTING_KIND_SUPPLY' ? 'supply' : 'demand'}` }, POSTING_KIND_LABELS[p.kind] || p.kind),
      text: (p) => POSTING_KIND_LABELS[p.kind] || p.kind },
    { title: '标题 TITLE', get: (p) => h('span', { title: p.description }, p.title) },
    { title: '行业 INDUSTRY', get: (p) => h('code', {}, p.industry_code), text: (p) => p.industry_code },
    { title: '数量 QTY', get: (p) => (p.quantity ? `${fmtNum(p.quantity, p.quantity % 1 ? 2 : 0)} ${p.unit}` : ''), text: (p) => (p.quantity ? `${p.quantity} ${p.unit}` : ''), class: 'num' },
    { title: '金额(万元) AMOUNT', get: (p) => (p.amount_wan ? fmtNum(p.amount_wan, 2) : ''), text: (p) => (p.amount_wan ? String(p.amount_wan) : ''), class: 'num' },
    { title: '有效期 VALIDITY', get: (p) => `${p.valid_from || ''} – ${p.valid_until || '长期'}`, class: 'nowrap' },
    { title: '状态 STATE', get: (p) => h('span', { class: p.state === 'POSTING_STATE_OPEN' ? 'ok' : 'muted' }, POSTING_STATE_LABELS[p.state] || p.state),
      text: (p) => POSTING_STATE_LABELS[p.state] || p.state },
    { title: '发布时间 TIME (UTC+8)', get: (p) => fmtTime(p.create_time), class: 'nowrap' },
  ];
  return pagedTable({
    title: `${rec.display_name}-供需信息`, columns: cols, pageSize: 10, empty: '没有供需信息',
    fetchPage: async (token, size) => {
      const r = await call('SupplyDemandService', 'ListPostings', { filter: `credit_code = ${quote(rec.credit_code)}`, page_size: Math.min(size, 500), page_token: token });
      return { rows: r.postings, next: r.next_page_token };
    },
  });
}

function matchesView(call, rec) {
  const mine = (m) => m.supplier_credit_code === rec.credit_code;
  const cols = [
    { title: '编号 ID', get: (m) => h('a', { href: `#/supply/matches/${encodeURIComponent(m.name.replace(/^matches\//, ''))}` }, h('code', {}, m.name.replace(/^matches\//, ''))),
      text: (m) => m.name.replace(/^matches\//, '') },
    { title: '状态 STATE', get: (m) => h('span', { class: `ms ${m.state.replace('MATCH_STATE_', '').toLowerCase()}` }, MATCH_STATE_LABELS[m.state] || m.state),
      text: (m) => MATCH_STATE_LABELS[m.state] || m.state },
    { title: '本企业 SIDE', get: (m) => (mine(m) ? '供方' : '需方') },
    { title: '对方企业 COUNTERPART', get: (m) => (mine(m)
      ? firmLink(m.demander_credit_code, m.demander_display_name)
      : firmLink(m.supplier_credit_code, m.supplier_display_name)),
    text: (m) => (mine(m) ? m.demander_display_name : m.supplier_display_name) },
    { title: '签约额(万元) AMOUNT', get: (m) => (m.amount_wan ? fmtNum(m.amount_wan, 2) : ''), text: (m) => (m.amount_wan ? String(m.amount_wan) : ''), class: 'num' },
    { title: '签约日期 DATE', get: (m) => m.signed_date, class: 'nowrap' },
    { title: '得分 SCORE', get: (m) => (m.score ? fmtNum(m.score, 1) : ''), text: (m) => (m.score ? String(m.score) : ''), class: 'num' },
    { title: '经办 BROKER', get: (m) => m.broker },
    { title: '更新时间 TIME (UTC+8)', get: (m) => fmtTime(m.update_time), class: 'nowrap' },
  ];
  return pagedTable({
    title: `${rec.display_name}-对接记录`, columns: cols, pageSize: 10, empty: '没有对接记录',
    fetchPage: async (token, size) => {
      const r = await call('SupplyDemandService', 'ListMatches', { filter: `credit_code = ${quote(rec.credit_code)}`, page_size: Math.min(size, 500), page_token: token });
      return { rows: r.matches, next: r.next_page_token };
    },
  });
}

// ------------------------------------------------------------ change history

/** A change-log value (text; lists and messages as JSON) for a person. */
function readable(field, value) {
  if (value === '') return '';
  if (/^[[{]/.test(value)) {
    try {
      const v = JSON.parse(value);
      if (Array.isArray(v)) {
        return v.map((x) => {
          if (x && typeof x === 'object') {
            if (field === 'contacts') return [x.name, x.title, x.phone, x.email].filter(Boolean).join(' / ');
            if (x.display_name) return x.display_name;
            if (x.date && x.kind) return `${x.date} ${x.kind}`;
            return JSON.stringify(x);
          }
          return String(x);
        }).join('、') || '（空）';
      }
      return JSON.stringify(v);
    } catch { /* not JSON after all */ }
  }
  if (/^DESIGNATION_KIND_/.test(value)) return kindLabel(value);
  if (STATUS_LABELS[value]) return STATUS_LABELS[value];
  if (ROLE_LABELS[value]) return ROLE_LABELS[value];
  return value;
}

/** Where a change came from: ladder's own origins in Chinese, a sync source by name. */
function originCell(c) {
  if (ORIGIN_LABELS[c.origin]) return h('span', { title: c.origin }, ORIGIN_LABELS[c.origin]);
  if (/^syncRuns\//.test(c.reason)) return h('span', { title: c.reason }, '同步 ', h('code', {}, c.origin));
  return c.origin;
}

function clip(text, n = 160) {
  return text.length > n ? h('span', { title: text }, `${text.slice(0, n)}…`) : text;
}

function historyView(card, call, rec, pDes, pMem, pInd) {
  const select = h('select', { id: 'history-resource', 'aria-label': '查看哪个对象的变更' },
    h('option', { value: rec.name }, '企业档案'));
  const box = h('div', { id: 'history' });
  fill(card,
    h('div', { class: 'card-head' }, h('h2', {}, '变更记录'), h('span', { class: 'spacer' }),
      h('label', { class: 'inline' }, h('span', { class: 'muted' }, '对象 '), select)),
    h('p', { class: 'muted' }, '按修订号从早到晚排列；时间为北京时间。'),
    box);
  const cols = [
    { title: '修订 REV', get: (c) => h('code', {}, c.revision), text: (c) => c.revision },
    { title: '时间 TIME (UTC+8)', get: (c) => fmtTime(c.time), class: 'nowrap' },
    { title: '操作 KIND', get: (c) => h('span', { class: `ck ${c.kind.replace('CHANGE_KIND_', '').toLowerCase()}` }, CHANGE_KIND_LABELS[c.kind] || c.kind),
      text: (c) => CHANGE_KIND_LABELS[c.kind] || c.kind },
    { title: '经办 ACTOR', get: (c) => c.actor, class: 'nowrap' },
    { title: '来源 ORIGIN', get: (c) => originCell(c), text: (c) => c.origin, class: 'nowrap' },
    { title: '变更内容 CHANGES', get: (c) => (c.field_changes.length
      ? h('ul', { class: 'changes' }, c.field_changes.map((x) => {
        const before = readable(x.field, x.old_value);
        const after = readable(x.field, x.new_value);
        return h('li', {}, h('span', { class: 'fname', title: x.field }, FIELD_LABELS[x.field] || x.field), '：',
          before !== '' && c.kind !== 'CHANGE_KIND_CREATED' ? [h('del', {}, clip(before)), ' → '] : null,
          after !== '' ? h('ins', {}, clip(after)) : h('span', { class: 'muted' }, '（清空）'));
      }))
      : ''),
    text: (c) => c.field_changes.map((x) => `${FIELD_LABELS[x.field] || x.field}: ${readable(x.field, x.old_value)} → ${readable(x.field, x.new_value)}`).join('; ') },
    { title: '说明 REASON', get: (c) => c.reason },
  ];
  const show = () => {
    const resource = select.value;
    fill(box, pagedTable({
      title: `${rec.display_name}-变更记录`, columns: cols, pageSize: 20, empty: '没有变更记录',
      fetchPage: async (token, size) => {
        const r = await call('ChangeService', 'ListChanges', { resource, page_size: Math.min(size, 1000), page_token: token });
        return { rows: r.changes, next: r.next_page_token };
      },
    }));
  };
  select.addEventListener('change', show);
  show();
  // The firm's sub-records, once known, can be chosen too.
  Promise.all([pDes.catch(() => []), pMem.catch(() => []), pInd.then((r) => r.indicators).catch(() => [])]).then(([des, mem, ind]) => {
    const group = (label, items) => (items.length ? h('optgroup', { label }, items) : null);
    select.append(
      group('认定', des.map((d) => h('option', { value: d.name }, `${kindLabel(d.kind)} ${d.valid_from || ''}`))) || '',
      group('联盟成员资格', mem.map((m) => h('option', { value: m.name }, m.alliance_display_name || m.name))) || '',
      group('年度指标', ind.map((x) => h('option', { value: x.name }, `${x.year} 年`))) || '');
  });
}
