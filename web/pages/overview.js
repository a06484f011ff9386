// 总览: the cultivation funnel on a date (stages and designation kinds), this
// year's promotions and regressions, designations falling due, stalled
// projects, chain gaps and the latest changes — every number a link to the
// list behind it.

import {
  h, fill, errorBox, todayCst, addDays, fmtNum, fmtTime, STAGES, stageLabel, codeOf, firmLink, table, pagedTable, exportButton, field, setRouteQuery, fieldLabel, originLabel,
} from '../ui.js';
import {
  useCss, kindLabel, stageBadge, quote, enterpriseFilter, firmsHref, scopeOf, listAlliances,
  scopeControls, localPages, daysBetween,
} from './cultivation.js';

const PROJECT_STAGES = {
  PROJECT_STAGE_LEAD: '线索', PROJECT_STAGE_CONTACT: '接洽', PROJECT_STAGE_VISIT: '考察', PROJECT_STAGE_NEGOTIATION: '洽谈',
  PROJECT_STAGE_SIGNED: '签约', PROJECT_STAGE_REGISTERED: '注册落地', PROJECT_STAGE_LAND: '拿地', PROJECT_STAGE_CONSTRUCTION: '开工',
  PROJECT_STAGE_PRODUCTION: '投产', PROJECT_STAGE_STATISTICS: '入统',
};

const CAUSES = {
  STAGE_CHANGE_CAUSE_GRANTED: '获得认定', STAGE_CHANGE_CAUSE_REVOKED: '认定撤销',
  STAGE_CHANGE_CAUSE_EXPIRED: '认定到期', STAGE_CHANGE_CAUSE_CORRECTED: '认定更正',
};

const CHANGE_KINDS = {
  CHANGE_KIND_CREATED: ['新增', 'created'], CHANGE_KIND_UPDATED: ['修改', 'updated'],
  CHANGE_KIND_DELETED: ['删除', 'deleted'], CHANGE_KIND_UNDELETED: ['恢复', 'undeleted'],
};

const stageIndex = (s) => Math.max(0, STAGES.findIndex(([k]) => k === (s || 'STAGE_UNSPECIFIED')));

/** A card with a heading row (title, optional note and a link on the right) and a body. */
function card(id, title, opts = {}) {
  const body = h('div', { class: 'ov-body' });
  const note = h('span', { class: 'ov-note muted' });
  const el = h('section', { class: `card ov-card ${opts.class || ''}`, id },
    h('div', { class: 'ov-card-head' }, h('h2', {}, title), note, h('span', { class: 'spacer' }),
      opts.href ? h('a', { href: opts.href, class: 'ov-more' }, opts.more || '查看全部 →') : null),
    body);
  return { el, body, note };
}

function loading() {
  return h('div', { class: 'loading' }, '加载中…');
}

/** A big number that links to the list behind it. */
function bigNumber(n, href, label, cls) {
  return h('a', { href, class: `ov-big ${cls || ''}` }, h('b', {}, fmtNum(n)), h('span', {}, label));
}

export async function render(root, ctx) {
  useCss('/assets/pages/overview.css');
  const today = todayCst();
  const asOfQ = ctx.query.get('as_of') || '';
  const state = { asOf: /^\d{4}-\d{2}-\d{2}$/.test(asOfQ) ? asOfQ : today, ...scopeOf(ctx.query) };
  const zones = (ctx.who && ctx.who.zones) || [];
  const zoneName = (id) => (zones.find((z) => z.id === id) || {}).display_name || id;

  const asOf = h('input', { type: 'date', id: 'funnel-as-of', value: state.asOf, max: '2999-12-31', required: true });
  const controls = h('div', { class: 'toolbar ov-controls' });
  const scopeLine = h('div', { class: 'ov-scope muted' });
  const kpis = h('div', { class: 'kpis ov-kpis', id: 'kpis' });
  const funnel = card('funnel', '梯度分布', { class: 'chart funnel-card' });
  const kinds = card('kinds', '认定类型', { class: 'chart kinds-card', href: '#/cultivation?tab=expiring', more: '到期复核 →' });
  const moves = card('movements', '本年晋级与退出');
  const expiring = card('expiring-soon', '90 天内到期认定', { href: '#/cultivation?tab=expiring', more: '全部到期认定 →' });
  const stalled = card('stalled', '停滞项目', { href: '#/projects?tab=reports', more: '停滞项目报表 →' });
  const gaps = card('gaps', '缺链环节', { href: '#/supply?tab=gaps', more: '供需对接 →' });
  const changes = card('latest-changes', '最新变更');

  fill(root,
    h('div', { class: 'ov-head' },
      h('div', { class: 'ov-title' }, h('h1', {}, '总览'), scopeLine),
      controls),
    kpis,
    h('div', { class: 'ov-grid ov-top' }, funnel.el, kinds.el),
    h('div', { class: 'ov-grid' }, moves.el, expiring.el),
    h('div', { class: 'ov-grid' }, stalled.el, gaps.el),
    changes.el);

  // KPI tiles, filled as their answers arrive.
  const tiles = {};
  const tile = (key, label, href) => {
    tiles[key] = h('a', { class: `kpi ov-kpi k-${key}`, id: `kpi-${key}`, href },
      h('span', { class: 'n' }, '…'), h('span', { class: 'l' }, label));
    return tiles[key];
  };
  const setTile = (key, n, sub) => {
    const t = tiles[key];
    if (!t) return;
    fill(t.querySelector('.n'), n === null ? '—' : fmtNum(n));
    const old = t.querySelector('.sub');
    if (old) old.remove();
    if (sub) t.append(h('span', { class: 'sub' }, sub));
  };
  fill(kpis,
    tile('firms', '企业总数', firmsHref(state)),
    STAGES.slice(1).map(([s, label]) => tile(s, `${label}企业`, firmsHref({ ...state, stage: s }))),
    tile('expiring', '90 天内到期认定', '#/cultivation?tab=expiring'),
    tile('stalled', '停滞项目', '#/projects?tab=reports'));

  let alliances = [];
  const alliancesReady = listAlliances(ctx.call).then((a) => { alliances = a; }).catch(() => {});

  const reset = h('button', { type: 'button', class: 'secondary', id: 'ov-reset', onclick: () => {
    state.asOf = today;
    state.zone = state.industry = state.alliance = '';
    asOf.value = today;
    drawControls();
    refresh(true);
  } }, '重置');
  // 'input' fires once a whole date is picked or typed; 'change' on leaving the field.
  // While a year is being typed the field holds dates like 0202-12-31:
  // wait for typing to pause, and take no year before 1949.
  let typing = null;
  const onAsOf = (e) => {
    clearTimeout(typing);
    const v = asOf.value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || v < '1949-01-01') {
      if (e.type === 'change') asOf.value = state.asOf;
      return;
    }
    if (v === state.asOf) return;
    const apply = () => {
      state.asOf = v;
      refresh(true);
    };
    if (e.type === 'change') apply();
    else typing = setTimeout(apply, 500);
  };
  asOf.addEventListener('input', onAsOf);
  asOf.addEventListener('change', onAsOf);
  function drawControls() {
    fill(controls, field('统计日期', asOf), scopeControls(ctx, state, alliances, () => refresh(true)), h('div', { class: 'field ov-reset' }, h('span', { class: 'label' }, ' '), reset));
  }
  drawControls();
  alliancesReady.then(() => {
    if (!root.isConnected) return;
    drawControls();
    drawScopeLine();
  });

  // Charts follow the width of their card.
  let lastFunnel = null;
  const onResize = () => {
    if (!root.isConnected) {
      window.removeEventListener('resize', onResize);
      return;
    }
    if (lastFunnel) drawCharts(lastFunnel);
  };
  window.addEventListener('resize', onResize);

  // The expiring count is zone-wide (ListExpiringDesignations takes no filter): say so when filtered.
  let expiringInfo = null;
  const scoped = () => !!(state.zone || state.industry || state.alliance);
  function expiringTile() {
    if (!expiringInfo) return;
    const { n, soon } = expiringInfo;
    setTile('expiring', n, `${soon ? `30 天内 ${fmtNum(soon)}` : '30 天内无'}${scoped() ? ' · 全区' : ''}`);
  }

  function drawScopeLine() {
    const bits = [
      state.zone ? `片区：${zoneName(state.zone)}` : null,
      state.industry ? `行业：${state.industry}` : null,
      state.alliance ? `联盟：${(alliances.find((a) => a.id === state.alliance) || {}).name || state.alliance}` : null,
    ].filter(Boolean);
    fill(scopeLine, `统计日期 ${state.asOf}（北京时间）`, bits.length ? ` · ${bits.join(' · ')}` : ' · 全区企业');
    return bits;
  }

  let generation = 0;
  function refresh(onlyScoped) {
    const mine = ++generation;
    const live = () => mine === generation && root.isConnected;
    setRouteQuery({ as_of: state.asOf === today ? '' : state.asOf, zone: state.zone, industry: state.industry, alliance: state.alliance });
    const filter = enterpriseFilter(state);
    const scopeBits = drawScopeLine();
    // Tile links follow the scope.
    tiles.firms.href = firmsHref(state);
    for (const [s] of STAGES.slice(1)) tiles[s].href = firmsHref({ ...state, stage: s });

    // Funnel (stages and kinds).
    fill(funnel.body, loading());
    fill(kinds.body, loading());
    ctx.call('CultivationService', 'GetFunnel', { as_of: state.asOf, filter }).then((f) => {
      if (!live()) return;
      lastFunnel = f;
      drawFunnel(f);
    }, (e) => {
      if (!live()) return;
      fill(funnel.body, errorBox(e));
      fill(kinds.body, errorBox(e));
      for (const k of ['firms', ...STAGES.slice(1).map(([s]) => s)]) setTile(k, null);
    });

    // Promotions and regressions from 1 January of the as-of year to the as-of date.
    const periodStart = `${state.asOf.slice(0, 4)}-01-01`;
    fill(moves.body, loading());
    fill(moves.note, `${periodStart} 至 ${state.asOf}`);
    ctx.call('CultivationService', 'ListStageMovements', { period_start: periodStart, period_end: state.asOf, filter }).then((m) => {
      if (live()) drawMovements(m);
    }, (e) => { if (live()) fill(moves.body, errorBox(e)); });

    // Stalled projects: the project filter knows zone and industry, not alliances.
    const pf = [];
    if (state.zone) pf.push(`zone = ${quote(state.zone)}`);
    if (state.industry) pf.push(`industry_code = ${quote(state.industry)}`);
    fill(stalled.body, loading());
    fill(stalled.note, state.alliance ? '（项目不按联盟筛选）' : '');
    ctx.call('ProjectService', 'ListStalledProjects', { filter: pf.join(' AND '), page_size: 6 }).then((r) => {
      if (live()) drawStalled(r);
    }, (e) => {
      if (!live()) return;
      fill(stalled.body, errorBox(e));
      setTile('stalled', null);
    });

    // Chain gaps: by alliance and industry; not by zone.
    fill(gaps.body, loading());
    fill(gaps.note, state.zone ? '（缺链不按片区筛选）' : '');
    ctx.call('SupplyDemandService', 'ListChainGaps', { alliance_id: state.alliance, industry_code: state.industry }).then((r) => {
      if (live()) drawGaps(r);
    }, (e) => { if (live()) fill(gaps.body, errorBox(e)); });

    if (!onlyScoped) {
      // Neither takes a zone, industry or alliance: loaded once.
      fill(expiring.body, loading());
      ctx.call('CultivationService', 'ListExpiringDesignations', { within_days: 90 }).then((r) => {
        if (root.isConnected) drawExpiring(r);
      }, (e) => {
        if (!root.isConnected) return;
        fill(expiring.body, errorBox(e));
        setTile('expiring', null);
      });
      fill(changes.body, loading());
      latestChanges(ctx.call, 15).then((list) => {
        if (root.isConnected) drawChanges(list);
      }, (e) => { if (root.isConnected) fill(changes.body, errorBox(e)); });
    }
    fill(expiring.note, scopeBits.length ? '（全区，不按筛选条件）' : '');
    expiringTile();
  }

  function drawFunnel(f) {
    setTile('firms', f.firms);
    for (const c of f.by_stage) {
      if (c.stage !== 'STAGE_UNSPECIFIED') setTile(c.stage, c.count, f.firms ? `占 ${((c.count / f.firms) * 100).toFixed(1)}%` : null);
    }
    const onLadder = f.by_stage.filter((c) => c.stage !== 'STAGE_UNSPECIFIED').reduce((s, c) => s + c.count, 0);
    fill(funnel.note, `${f.as_of} · 共 ${fmtNum(f.firms)} 家，入梯 ${fmtNum(onLadder)} 家（${f.firms ? ((onLadder / f.firms) * 100).toFixed(1) : '0.0'}%）`);
    fill(funnel.body,
      h('div', { class: 'funnel-svg' }),
      state.asOf !== today ? h('p', { class: 'ov-hint warn' }, `注意：图中为 ${f.as_of} 的梯度；点击后打开的企业名单按今日梯度筛选。`) : h('p', { class: 'ov-hint muted' }, '点击柱形查看该梯度的企业名单。'));
    const shown = f.by_kind.filter((k) => k.count > 0);
    const toggle = h('button', { type: 'button', class: 'link-btn ov-toggle', onclick: () => {
      kinds.el.classList.toggle('all-kinds');
      drawCharts(f);
      fill(toggle, kinds.el.classList.contains('all-kinds') ? '只看有企业的类型' : `显示全部 ${f.by_kind.length} 类`);
    } }, `显示全部 ${f.by_kind.length} 类`);
    fill(kinds.note, `持有有效认定的企业数 · ${shown.length} 类有企业`);
    fill(kinds.body,
      h('div', { class: 'kinds-svg' }),
      h('div', { class: 'ov-hint muted' }, '同一企业可持有多项认定。点击查看持有该认定的企业。', ' ', toggle),
      exportRow(f));
    drawCharts(f);
  }

  function exportRow(f) {
    return h('div', { class: 'ov-export' }, exportButton(`梯度分布-${f.as_of}`,
      [{ title: '类别 GROUP', get: (r) => r[0] }, { title: '名称 NAME', get: (r) => r[1] }, { title: '企业数 FIRMS', get: (r) => String(r[2]) }],
      () => [...f.by_stage.map((c) => ['梯度', c.label, c.count]), ...f.by_kind.map((k) => ['认定', k.label, k.count])]));
  }

  function drawCharts(f) {
    const fEl = funnel.body.querySelector('.funnel-svg');
    const kEl = kinds.body.querySelector('.kinds-svg');
    if (fEl) drawStageChart(fEl, f, (stage) => firmsHref({ ...state, stage }));
    if (kEl) {
      const all = kinds.el.classList.contains('all-kinds');
      drawKindChart(kEl, all ? f.by_kind : f.by_kind.filter((k) => k.count > 0), (kind) => firmsHref({ ...state, kind }));
    }
  }

  function drawMovements(m) {
    const up = m.promotions.reduce((s, c) => s + c.count, 0);
    const down = m.regressions.reduce((s, c) => s + c.count, 0);
    const newest = [...m.movements].reverse();
    const listEl = h('div', { class: 'ov-moves-list' });
    const picked = { dir: '', stage: '' };
    const buttons = [];
    const pick = (dir, stage) => {
      if (picked.dir === dir && picked.stage === stage) {
        picked.dir = picked.stage = '';
      } else {
        picked.dir = dir;
        picked.stage = stage;
      }
      for (const b of buttons) b.classList.toggle('active', b.dataset.dir === picked.dir && b.dataset.stage === picked.stage);
      drawList();
    };
    const isUp = (mv) => stageIndex(mv.change.to_stage) > stageIndex(mv.change.from_stage);
    const countButton = (dir, stage, n) => {
      const b = h('button', { type: 'button', class: `ov-count ${dir}`, 'data-dir': dir, 'data-stage': stage, disabled: n === 0, onclick: () => pick(dir, stage) }, fmtNum(n));
      buttons.push(b);
      return b;
    };
    const rows = STAGES.slice(1).map(([s, label]) => ({
      s, label,
      up: (m.promotions.find((c) => c.stage === s) || {}).count || 0,
      down: (m.regressions.find((c) => c.stage === s) || {}).count || 0,
    }));
    function drawList() {
      const list = newest.filter((mv) => {
        if (!picked.dir) return true;
        if (picked.dir === 'up') return isUp(mv) && (!picked.stage || mv.change.to_stage === picked.stage);
        return !isUp(mv) && (!picked.stage || mv.change.from_stage === picked.stage);
      });
      const what = picked.dir
        ? `${picked.dir === 'up' ? '晋级' : '退出'}${picked.stage ? `（${picked.dir === 'up' ? '进入' : '离开'}${stageLabel(picked.stage)}）` : ''}`
        : '全部变动';
      fill(listEl,
        h('h3', {}, `${what}，最新在前`),
        pagedTable({
          title: `梯度变动-${m.period_start}-${m.period_end}`,
          columns: [
            { title: '日期 DATE', get: (mv) => mv.change.date, class: 'nowrap' },
            { title: '企业名称 NAME', get: (mv) => firmLink(mv.enterprise, mv.display_name || undefined), text: (mv) => mv.display_name },
            { title: '信用代码 CODE', get: (mv) => codeOf(mv.enterprise), class: 'ov-hide' },
            {
              title: '变动 CHANGE',
              get: (mv) => h('span', { class: 'ov-move' }, stageBadge(mv.change.from_stage), h('span', { class: isUp(mv) ? 'arrow up' : 'arrow down' }, isUp(mv) ? '↑' : '↓'), stageBadge(mv.change.to_stage)),
              text: (mv) => `${stageLabel(mv.change.from_stage)} → ${stageLabel(mv.change.to_stage)}`,
              class: 'nowrap',
            },
            { title: '原因 CAUSE', get: (mv) => `${CAUSES[mv.change.cause] || ''} · ${kindLabel(mv.change.designation_kind)}` },
          ],
          fetchPage: localPages(list),
          pageSize: 6,
          empty: '该期间没有梯度变动',
        }));
    }
    fill(moves.body,
      h('div', { class: 'ov-bigs' },
        h('button', { type: 'button', class: 'ov-big up', 'data-dir': 'up', 'data-stage': '', onclick: () => pick('up', '') }, h('b', {}, `↑ ${fmtNum(up)}`), h('span', {}, '晋级')),
        h('button', { type: 'button', class: 'ov-big down', 'data-dir': 'down', 'data-stage': '', onclick: () => pick('down', '') }, h('b', {}, `↓ ${fmtNum(down)}`), h('span', {}, '退出'))),
      h('div', { class: 'table-wrap' }, h('table', { class: 'ov-moves-table' },
        h('thead', {}, h('tr', {}, h('th', {}, '梯度'), rows.map((r) => h('th', { class: 'num' }, r.label)))),
        h('tbody', {},
          h('tr', {}, h('th', { class: 'rowh' }, '晋级 ↑'), rows.map((r) => h('td', { class: 'num' }, countButton('up', r.s, r.up)))),
          h('tr', {}, h('th', { class: 'rowh' }, '退出 ↓'), rows.map((r) => h('td', { class: 'num' }, countButton('down', r.s, r.down))))))),
      h('p', { class: 'ov-hint muted' }, '晋级按进入的梯度计，退出按离开的梯度计；点击数字筛选下方名单。'),
      listEl);
    buttons.push(...moves.body.querySelectorAll('.ov-bigs button'));
    drawList();
  }

  function drawExpiring(r) {
    const rows = r.designations.map((d, i) => ({ d, name: r.display_names[i] || '', left: d.valid_until ? daysBetween(today, d.valid_until) : null }));
    const soon = rows.filter((x) => x.left !== null && x.left <= 30).length;
    expiringInfo = { n: rows.length, soon };
    expiringTile();
    const firm = (x) => x.d.name.split('/designations/')[0];
    fill(expiring.body,
      h('div', { class: 'ov-bigs' },
        bigNumber(rows.length, '#/cultivation?tab=expiring', `项将在 ${addDays(today, 90)} 前到期`),
        bigNumber(soon, '#/cultivation?tab=expiring&days=30', '项 30 天内', 'bad')),
      table([
        { title: '到期日 DATE', get: (x) => x.d.valid_until, class: 'nowrap' },
        { title: '剩余 DAYS', get: (x) => h('span', { class: `ov-days ${x.left <= 30 ? 'bad' : x.left <= 60 ? 'warn' : ''}` }, x.left === 0 ? '今天' : `${x.left} 天`), class: 'num nowrap' },
        { title: '企业名称 NAME', get: (x) => firmLink(firm(x), x.name || undefined) },
        { title: '认定类型 KIND', get: (x) => kindLabel(x.d.kind) },
      ], rows.slice(0, 6), { empty: '未来 90 天内没有到期的认定' }),
      rows.length > 6 ? h('a', { class: 'ov-more-row', href: '#/cultivation?tab=expiring' }, `还有 ${fmtNum(rows.length - 6)} 项 →`) : null);
  }

  function drawStalled(r) {
    setTile('stalled', r.total_size, state.alliance ? '不按联盟筛选' : null);
    fill(stalled.body,
      h('div', { class: 'ov-bigs' }, bigNumber(r.total_size, '#/projects?tab=reports', '个项目超过阈值未推进', r.total_size ? 'warn' : '')),
      table([
        {
          title: '项目 PROJECT',
          get: (s) => h('span', { class: 'ov-proj' },
            h('a', { href: `#/projects/${encodeURIComponent(s.project.name.replace(/^projects\//, ''))}` }, s.project.display_name),
            h('span', { class: 'muted' }, s.project.investor_name)),
          text: (s) => s.project.display_name,
        },
        { title: '阶段 STAGE', get: (s) => PROJECT_STAGES[s.project.stage] || '', class: 'nowrap' },
        { title: '片区 ZONE', get: (s) => zoneName(s.project.promotion_zone), class: 'nowrap' },
        { title: '停滞(天) DAYS', get: (s) => h('span', { class: 'ov-days bad' }, fmtNum(s.days_idle)), class: 'num' },
        { title: '阈值(天) LIMIT', get: (s) => fmtNum(s.threshold_days), class: 'num muted' },
      ], r.projects, { empty: '没有停滞的项目' }),
      r.total_size > r.projects.length ? h('a', { class: 'ov-more-row', href: '#/projects?tab=reports' }, `还有 ${fmtNum(r.total_size - r.projects.length)} 个 →`) : null);
  }

  function drawGaps(r) {
    const list = r.gaps.filter((g) => g.in_zone_supplies === 0);
    const amount = list.reduce((s, g) => s + g.open_demand_amount_wan, 0);
    fill(gaps.body,
      h('div', { class: 'ov-bigs' },
        bigNumber(list.length, '#/supply?tab=gaps', '个类别有需求、无区内供给'),
        h('a', { class: 'ov-big', href: '#/supply?tab=gaps' }, h('b', {}, fmtNum(amount, 0)), h('span', {}, '万元 未满足需求'))),
      table([
        { title: '产业类别 CATEGORY', get: (g) => h('span', { class: 'ov-proj' }, h('a', { href: '#/supply?tab=gaps' }, g.industry_name || g.industry_code), h('span', { class: 'muted code' }, g.industry_code)) },
        { title: '需求数 DEMANDS', get: (g) => fmtNum(g.open_demands), class: 'num' },
        { title: '金额(万元) AMOUNT', get: (g) => fmtNum(g.open_demand_amount_wan, 0), class: 'num' },
        { title: '需求企业 FIRMS', get: (g) => fmtNum(g.demanding_firms.length), class: 'num' },
        { title: '区外供给 OUTSIDE', get: (g) => fmtNum(g.out_of_zone_supplies), class: 'num' },
      ], list.slice(0, 6), { empty: '没有缺链环节' }),
      list.length > 6 ? h('a', { class: 'ov-more-row', href: '#/supply?tab=gaps' }, `还有 ${fmtNum(list.length - 6)} 个 →`) : null);
  }

  function drawChanges(list) {
    const cols = [
      { title: '时间 TIME (UTC+8)', get: (c) => fmtTime(c.time), class: 'nowrap' },
      { title: '对象 RESOURCE', get: (c) => resourceCell(c), text: (c) => c.resource },
      { title: '操作 KIND', get: (c) => { const k = CHANGE_KINDS[c.kind] || [c.kind, '']; return h('span', { class: `ov-ck ${k[1]}` }, k[0]); }, text: (c) => (CHANGE_KINDS[c.kind] || [c.kind])[0] },
      { title: '变更字段 FIELDS', get: (c) => fieldsText(c) },
      { title: '经办人 ACTOR', get: (c) => c.actor, class: 'nowrap' },
      { title: '来源 ORIGIN', get: (c) => h('span', { class: 'tag' }, originLabel(c.origin)), text: (c) => originLabel(c.origin) },
      { title: '修订号 REV', get: (c) => String(c.revision), class: 'num muted' },
    ];
    fill(changes.note, list.length ? `最新 ${list.length} 条` : '');
    fill(changes.body, h('div', { class: 'ov-export' }, exportButton('最新变更', cols, () => list)), table(cols, list, { empty: '还没有变更' }));
  }

  refresh(false);
}

/** The newest `n` changes, newest first (ListChanges pages oldest first: start from the head). */
async function latestChanges(call, n) {
  const probe = await call('ChangeService', 'ListChanges', { page_size: 1 });
  const head = Number(probe.head_revision || 0);
  if (!head) return [];
  let start = Math.max(1, head - n + 1);
  const out = [];
  let token = '';
  for (let tries = 0; tries < 20; tries++) {
    let r;
    try {
      r = await call('ChangeService', 'ListChanges', { start_revision: String(start), end_revision: String(head), page_size: n, page_token: token });
    } catch (e) {
      const oldest = Number((e.metadata || {}).oldest_retained_revision || 0);
      if (e.reason === 'REVISION_COMPACTED' && oldest > start && !token) {
        start = oldest;
        continue;
      }
      throw e;
    }
    out.push(...r.changes);
    token = r.next_page_token;
    if (!token) break;
  }
  return out.slice(-n).reverse();
}

const COLLECTIONS = {
  enterprises: '企业', designations: '认定', indicators: '年度指标', alliances: '联盟', memberships: '联盟成员',
  postings: '供需信息', matches: '对接', projects: '招商项目', investments: '项目投资', targets: '靶向企业',
  syncRuns: '同步批次', events: '事件',
};

function resourceCell(c) {
  const parts = String(c.resource || '').split('/');
  const label = COLLECTIONS[parts[parts.length - 2]] || parts[parts.length - 2] || '';
  const suffix = parts.length > 2 && /^\d{4}$/.test(parts[parts.length - 1]) ? ` ${parts[parts.length - 1]}` : '';
  if (parts[0] === 'enterprises' && parts[1]) {
    const nameChange = parts.length === 2 && (c.field_changes || []).find((f) => f.field === 'display_name' && f.new_value);
    return h('span', { class: 'ov-res' }, h('span', { class: 'ov-res-kind' }, `${label}${suffix}`),
      firmLink(`enterprises/${parts[1]}`, nameChange ? nameChange.new_value : parts[1]));
  }
  // The top-level id, and a nested record's own id unless it is the year already shown.
  const id = parts.length > 3 && !suffix ? `${parts[1]} / ${parts[parts.length - 1]}` : (parts[1] || '');
  // Records with a page of their own in the workspace.
  const pages = { projects: '#/projects/', alliances: '#/alliances/', postings: '#/supply/postings/', matches: '#/supply/matches/' };
  const href = parts[1] && pages[parts[0]] ? `${pages[parts[0]]}${encodeURIComponent(parts[1])}` : null;
  return h('span', { class: 'ov-res' }, h('span', { class: 'ov-res-kind' }, `${label}${suffix}`),
    href ? h('a', { href, class: 'code' }, id) : h('span', { class: 'code' }, id));
}

function fieldsText(c) {
  const fields = (c.field_changes || []).map((f) => fieldLabel(f.field));
  const shown = fields.slice(0, 4).join('、');
  const more = fields.length > 4 ? ` 等 ${fields.length} 项` : '';
  const text = `${shown}${more}`;
  if (c.reason) return h('span', {}, text, text ? ' · ' : '', h('span', { class: 'muted' }, c.reason));
  return text;
}

/** Vertical bars, one per stage: `g.bar[data-stage][data-count]`, clickable to the firms list. */
function drawStageChart(el, f, hrefOf) {
  const W = Math.max(260, Math.floor(el.clientWidth || 560));
  const narrow = W < 460;
  const H = narrow ? 220 : 250;
  const top = 24;
  const bottom = 44;
  const side = 4;
  const stages = f.by_stage;
  const max = Math.max(1, ...stages.map((c) => c.count));
  const slot = (W - side * 2) / Math.max(1, stages.length);
  const bw = Math.min(72, slot * 0.62);
  const plot = H - top - bottom;
  const base = top + plot;
  const grid = [0.25, 0.5, 0.75, 1].map((p) => h('svg:line', { class: 'grid', x1: side, x2: W - side, y1: Math.round(base - p * plot) + 0.5, y2: Math.round(base - p * plot) + 0.5 }));
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group', 'aria-label': `梯度分布（${f.as_of}）` },
    grid,
    stages.map((c, i) => {
      const si = stageIndex(c.stage);
      const cx = side + slot * i + slot / 2;
      const bh = c.count ? Math.max(3, (c.count / max) * plot) : 0;
      const share = f.firms ? `${((c.count / f.firms) * 100).toFixed(1)}%` : '';
      const href = hrefOf(c.stage);
      const go = () => { location.hash = href; };
      return h('svg:g', {
        class: `bar s${si}`, 'data-stage': c.stage, 'data-count': c.count, 'data-href': href,
        role: 'link', tabindex: 0, 'aria-label': `${c.label || stageLabel(c.stage)}：${c.count} 家，查看名单`,
        onclick: go,
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } },
      },
      h('svg:title', {}, `${c.label || stageLabel(c.stage)}：${fmtNum(c.count)} 家（${share}）`),
      h('svg:rect', { class: 'hit', x: cx - slot / 2, y: 0, width: slot, height: H }),
      h('svg:rect', { class: 'col', x: cx - bw / 2, y: base - bh, width: bw, height: bh, rx: 3 }),
      h('svg:text', { class: 'n', x: cx, y: base - bh - 7, 'text-anchor': 'middle' }, fmtNum(c.count)),
      h('svg:text', { class: 'lbl', x: cx, y: base + 18, 'text-anchor': 'middle' }, c.label || stageLabel(c.stage)),
      h('svg:text', { class: 'pct', x: cx, y: base + 35, 'text-anchor': 'middle' }, share));
    }),
    h('svg:line', { class: 'axis', x1: side, x2: W - side, y1: base + 0.5, y2: base + 0.5 }));
  fill(el, svg);
}

/** Horizontal bars, one per designation kind: `g.kind-bar[data-kind][data-count]`. */
function drawKindChart(el, list, hrefOf) {
  if (!list.length) {
    fill(el, h('div', { class: 'muted empty' }, '该日期没有有效认定'));
    return;
  }
  const W = Math.max(260, Math.floor(el.clientWidth || 480));
  const rowH = 26;
  const H = list.length * rowH + 6;
  const labelW = Math.min(150, Math.round(W * 0.42));
  const countW = 48;
  const barMax = Math.max(20, W - labelW - countW - 8);
  const max = Math.max(1, ...list.map((k) => k.count));
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'group', 'aria-label': '各类认定的企业数' },
    list.map((k, i) => {
      const y = 3 + i * rowH;
      const bwid = k.count ? Math.max(2, (k.count / max) * barMax) : 0;
      const href = hrefOf(k.kind);
      const go = () => { location.hash = href; };
      return h('svg:g', {
        class: 'kind-bar', 'data-kind': k.kind, 'data-count': k.count, 'data-href': href,
        role: 'link', tabindex: 0, 'aria-label': `${k.label || kindLabel(k.kind)}：${k.count} 家，查看名单`,
        onclick: go,
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); } },
      },
      h('svg:title', {}, `${k.label || kindLabel(k.kind)}：${fmtNum(k.count)} 家`),
      h('svg:rect', { class: 'hit', x: 0, y, width: W, height: rowH }),
      h('svg:text', { class: 'lbl', x: labelW - 8, y: y + rowH / 2 + 4.5, 'text-anchor': 'end' }, k.label || kindLabel(k.kind)),
      h('svg:rect', { class: 'col', x: labelW, y: y + 5, width: bwid, height: rowH - 10, rx: 2 }),
      h('svg:text', { class: 'n', x: labelW + bwid + 6, y: y + rowH / 2 + 4.5 }, fmtNum(k.count)));
    }));
  fill(el, svg);
}
