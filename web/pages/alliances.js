// 产业联盟: the alliances with their member counts; an alliance's page with
// its summary (members by role, industry division and zone; joins and
// departures over a period) and its roster, paged on the server, where staff
// with write rights add members, change roles and end memberships. Every
// membership's history (joins, role changes, departures, rejoins) opens in
// its row, or on its own page `#/alliances/{id}/members/{code}`.

import {
  h, fill, fmtTime, todayCst, fmtNum, codeOf, firmLink, errorBox, load, toast, table, exportButton, field, section, setRouteQuery, MAX_EXPORT_ROWS, shortTitle, pagedTable,
} from '../ui.js';

const CSS = '/assets/pages/alliances.css';
if (!document.querySelector(`link[href="${CSS}"]`)) {
  document.head.append(h('link', { rel: 'stylesheet', href: CSS }));
}

// ---- enum labels -------------------------------------------------------

const KINDS = {
  ALLIANCE_KIND_INDUSTRY: '产业联盟',
  ALLIANCE_KIND_FINANCE: '金融联盟',
  ALLIANCE_KIND_TALENT: '人才联盟',
  ALLIANCE_KIND_OTHER: '其他',
  ALLIANCE_KIND_UNSPECIFIED: '未指定',
};

/** Roles from the top, as [short name, enum, Chinese label]. */
const ROLES = [
  ['CHAIR', 'MEMBERSHIP_ROLE_CHAIR', '理事长单位'],
  ['VICE_CHAIR', 'MEMBERSHIP_ROLE_VICE_CHAIR', '副理事长单位'],
  ['STANDING_DIRECTOR', 'MEMBERSHIP_ROLE_STANDING_DIRECTOR', '常务理事单位'],
  ['DIRECTOR', 'MEMBERSHIP_ROLE_DIRECTOR', '理事单位'],
  ['MEMBER', 'MEMBERSHIP_ROLE_MEMBER', '会员单位'],
  ['SECRETARIAT', 'MEMBERSHIP_ROLE_SECRETARIAT', '秘书处'],
];

function roleLabel(role) {
  const r = ROLES.find(([short, full]) => role === short || role === full);
  return r ? r[2] : (role === 'MEMBERSHIP_ROLE_UNSPECIFIED' || !role ? '' : role);
}

/** End reasons staff may choose (the others are recorded by the server only). */
const END_REASONS = [
  ['END_REASON_WITHDREW', '主动退出'],
  ['END_REASON_LAPSED', '逾期未缴费/未年检'],
  ['END_REASON_EXPELLED', '除名'],
  ['END_REASON_ORGANISATION_DISSOLVED', '单位注销'],
  ['END_REASON_OTHER', '其他（请在备注中说明）'],
];
const END_REASON_LABELS = {
  END_REASON_WITHDREW: '主动退出',
  END_REASON_LAPSED: '逾期未缴费/未年检',
  END_REASON_EXPELLED: '除名',
  END_REASON_ORGANISATION_DISSOLVED: '单位注销',
  END_REASON_ALLIANCE_DISSOLVED: '联盟解散',
  END_REASON_ENTERPRISE_DELETED: '企业档案删除',
  END_REASON_OTHER: '其他',
  END_REASON_UNSPECIFIED: '',
};

const EVENT_KINDS = {
  MEMBERSHIP_EVENT_KIND_JOINED: '入会',
  MEMBERSHIP_EVENT_KIND_ROLE_CHANGED: '角色变更',
  MEMBERSHIP_EVENT_KIND_ENDED: '退出',
  MEMBERSHIP_EVENT_KIND_REJOINED: '重新入会',
};

const isActive = (m) => m.state === 'MEMBERSHIP_STATE_ACTIVE';
const allianceId = (name) => String(name || '').replace(/^alliances\//, '').split('/')[0];

/** A fresh idempotency key (AIP-155), also outside secure contexts. */
function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function stateTag(m) {
  return isActive(m) ? h('span', { class: 'tag al-active' }, '在册') : h('span', { class: 'tag al-ended' }, '已退出');
}


/** A table whose rows can open a detail row beneath them. */
function rowsTable(columns, rows, empty) {
  const tbody = h('tbody');
  if (!rows.length) tbody.append(h('tr', {}, h('td', { colspan: columns.length, class: 'muted empty' }, empty || '（无）')));
  for (const r of rows) {
    const tr = h('tr');
    const ctl = {
      detail: null,
      toggle(fn) {
        if (ctl.detail) {
          ctl.detail.remove();
          ctl.detail = null;
          tr.classList.remove('al-open');
          return false;
        }
        const td = h('td', { colspan: columns.length });
        ctl.detail = h('tr', { class: 'al-detail' }, td);
        tr.after(ctl.detail);
        tr.classList.add('al-open');
        load(td, fn);
        return true;
      },
    };
    for (const c of columns) {
      const v = c.get(r, ctl);
      tr.append(h('td', { class: c.class || null }, v === null || v === undefined ? '' : v));
    }
    tbody.append(tr);
  }
  return h('div', { class: 'table-wrap' },
    h('table', {}, h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.class || null }, shortTitle(c.title))))), tbody));
}

// ---- routing -----------------------------------------------------------

export async function render(root, ctx) {
  const [id, sub, code] = ctx.parts;
  if (!id) return renderList(root, ctx);
  if (sub === 'members' && code) return renderMembershipPage(root, ctx, id, code);
  return renderAlliance(root, ctx, id);
}

// ---- the list ----------------------------------------------------------

async function renderList(root, ctx) {
  const showDeleted = ctx.query.get('deleted') === '1';
  const toggle = h('input', { type: 'checkbox', id: 'show-deleted', checked: showDeleted || null, onchange: () => {
    setRouteQuery({ deleted: toggle.checked ? '1' : '' });
    drawList();
  } });
  const listBox = h('div');
  const columns = [
    { title: '编号 ID', get: (a) => h('code', {}, allianceId(a.name)), text: (a) => allianceId(a.name) },
    { title: '联盟名称 NAME', get: (a) => h('a', { href: `#/alliances/${encodeURIComponent(allianceId(a.name))}`, 'data-alliance': allianceId(a.name), class: 'al-name' }, a.display_name), text: (a) => a.display_name },
    { title: '类型 KIND', get: (a) => h('span', { class: `tag al-kind ${a.kind}` }, KINDS[a.kind] || a.kind), text: (a) => KINDS[a.kind] || a.kind },
    { title: '在册成员 MEMBERS', class: 'num', get: (a) => h('a', { href: `#/alliances/${encodeURIComponent(allianceId(a.name))}?state=ACTIVE`, title: '查看在册成员名单' }, fmtNum(a.active_members)), text: (a) => String(a.active_members) },
    { title: '秘书处 SECRETARIAT', get: (a) => a.secretariat },
    { title: '成立日期 DATE', get: (a) => a.founding_date },
    { title: '说明 NOTE', get: (a) => a.delete_time
      ? h('span', { class: 'bad' }, `已撤销（${fmtTime(a.delete_time).slice(0, 10)}）`)
      : a.seeded_default ? h('span', { class: 'warn', title: '系统预置的占位联盟，请按园区实际联盟改名' }, '预置默认，待改名') : '',
    text: (a) => (a.delete_time ? '已撤销' : a.seeded_default ? '预置默认' : '') },
    { title: '更新时间 TIME (UTC+8)', get: (a) => fmtTime(a.update_time) },
  ];
  function drawList() {
    fill(listBox, pagedTable({ render: rowsTable,
      title: '产业联盟',
      columns,
      pageSize: 50,
      empty: '还没有联盟',
      fetchPage: async (t, n) => {
        const r = await ctx.call('AllianceService', 'ListAlliances', { page_size: n, page_token: t, show_deleted: toggle.checked });
        return { rows: r.alliances, next: r.next_page_token };
      },
    }));
  }
  drawList();

  // A firm's memberships in every alliance.
  const firmInput = h('input', { type: 'text', id: 'firm-memberships-code', class: 'al-code-input', placeholder: '18 位统一社会信用代码', maxlength: 24, value: ctx.query.get('firm') || '' });
  const firmBox = h('div');
  const firmForm = h('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    drawFirm();
  } }, field('企业信用代码', firmInput), h('button', { type: 'submit' }, '查询'));
  function drawFirm() {
    const c = firmInput.value.trim().toUpperCase();
    setRouteQuery({ deleted: toggle.checked ? '1' : '', firm: c });
    if (!c) {
      fill(firmBox, h('p', { class: 'muted' }, '输入信用代码，查看该企业在各联盟的成员资格（含已退出的）。'));
      return;
    }
    fill(firmBox, pagedTable({ render: rowsTable,
      title: `企业联盟成员资格 ${c}`,
      columns: [
        { title: '联盟 ALLIANCE', get: (m) => h('a', { href: `#/alliances/${encodeURIComponent(allianceId(m.name))}` }, m.alliance_display_name || allianceId(m.name)), text: (m) => m.alliance_display_name },
        { title: '企业名称 NAME', get: (m) => firmLink(m.enterprise, m.enterprise_display_name), text: (m) => m.enterprise_display_name },
        { title: '角色 ROLE', get: (m) => roleLabel(m.role) },
        { title: '状态 STATE', get: (m) => stateTag(m), text: (m) => (isActive(m) ? '在册' : '已退出') },
        { title: '加入日期 DATE', get: (m) => m.join_date },
        { title: '退出日期 END DATE', get: (m) => m.end_date },
        { title: '退出原因 REASON', get: (m) => END_REASON_LABELS[m.end_reason] || '' },
        { title: '历史 HISTORY', noExport: true, get: (m) => h('a', { href: membershipHref(m) }, '查看') },
      ],
      fetchPage: async (t, n) => {
        const r = await ctx.call('AllianceService', 'ListMemberships', { parent: 'alliances/-', page_size: n, page_token: t, filter: `credit_code = "${c.replace(/"/g, '')}"` });
        return { rows: r.memberships, next: r.next_page_token };
      },
      empty: '该企业不在任何联盟中',
    }));
  }
  drawFirm();

  fill(root,
    h('div', { class: 'al-head' }, h('h1', {}, '产业联盟'), h('span', { class: 'spacer' }),
      h('label', { class: 'al-check' }, toggle, ' 含已撤销的联盟')),
    h('section', { class: 'card', id: 'alliances' }, listBox),
    section('按企业查联盟成员资格', firmForm, firmBox));
}

function membershipHref(m) {
  return `#/alliances/${encodeURIComponent(allianceId(m.name))}/members/${encodeURIComponent(codeOf(m.enterprise))}`;
}

// ---- one alliance ------------------------------------------------------

async function renderAlliance(root, ctx, id) {
  const name = `alliances/${id}`;
  let alliance;
  try {
    alliance = await ctx.call('AllianceService', 'GetAlliance', { name });
  } catch (e) {
    fill(root, crumbs(null), errorBox(e));
    return;
  }
  document.title = `${alliance.display_name} · 产业联盟 · ladder`;
  const deleted = !!alliance.delete_time;

  const info = section('基本信息',
    h('dl', { class: 'record' },
      h('dt', {}, '编号'), h('dd', {}, h('code', {}, id)),
      h('dt', {}, '类型'), h('dd', {}, KINDS[alliance.kind] || alliance.kind),
      h('dt', {}, '简介'), h('dd', {}, alliance.description || h('span', { class: 'muted' }, '—')),
      h('dt', {}, '秘书处'), h('dd', {}, alliance.secretariat || h('span', { class: 'muted' }, '—')),
      h('dt', {}, '成立日期'), h('dd', {}, alliance.founding_date || h('span', { class: 'muted' }, '—')),
      h('dt', {}, '在册成员'), h('dd', {}, `${fmtNum(alliance.active_members)} 家`),
      h('dt', {}, '创建时间'), h('dd', {}, fmtTime(alliance.create_time)),
      h('dt', {}, '最近修改'), h('dd', {}, `${fmtTime(alliance.update_time)}（修订号 ${alliance.revision}）`)));

  const summaryBox = h('div', { id: 'summary' });
  const rosterBox = h('div');
  const roster = h('section', { class: 'card', id: 'roster' });

  fill(root,
    crumbs(alliance.display_name),
    h('div', { class: 'al-head' },
      h('h1', {}, alliance.display_name),
      h('span', { class: `tag al-kind ${alliance.kind}` }, KINDS[alliance.kind] || ''),
      deleted ? h('span', { class: 'tag al-ended' }, '已撤销') : null),
    deleted ? h('div', { class: 'warnbox' }, `该联盟已于 ${fmtTime(alliance.delete_time)} 撤销；恢复后才能添加成员（命令行：ladder alliance undelete ${id}）。`) : null,
    alliance.seeded_default ? h('div', { class: 'notice' }, '这是系统预置的默认联盟，尚未修改：请按园区实际联盟改名、补充简介与秘书处（命令行：ladder alliance update）。') : null,
    h('div', { class: 'al-top' }, info, summaryBox),
    roster);

  const refreshSummary = drawSummary(ctx, id, summaryBox);
  drawRoster(ctx, id, alliance, roster, rosterBox, refreshSummary);
}

function crumbs(label) {
  return h('nav', { class: 'al-crumbs' }, h('a', { href: '#/alliances' }, '产业联盟'), label ? [' › ', h('span', {}, label)] : null);
}

/** The summary: KPIs, members by role, by industry division and by zone, over a period. */
function drawSummary(ctx, id, box) {
  const from = h('input', { type: 'date', id: 'summary-from', value: ctx.query.get('from') || '', max: todayCst() });
  const to = h('input', { type: 'date', id: 'summary-to', value: ctx.query.get('to') || '', max: todayCst() });
  const body = h('div');
  const form = h('form', { class: 'toolbar al-period', onsubmit: (e) => {
    e.preventDefault();
    const q = new URLSearchParams(location.hash.split('?')[1] || '');
    q.set('from', from.value);
    q.set('to', to.value);
    setRouteQuery(q);
    go();
  } }, field('统计期起', from), field('统计期止', to), h('button', { type: 'submit', class: 'secondary' }, '统计'));
  const zoneName = new Map((ctx.who.zones || []).map((z) => [z.id, z.display_name]));
  const go = () => load(body, async () => {
    const s = await ctx.call('AllianceService', 'GetAllianceSummary', { name: `alliances/${id}`, period_start: from.value, period_end: to.value });
    from.value = s.period_start;
    to.value = s.period_end;
    const rosterLink = (q) => `#/alliances/${encodeURIComponent(id)}?${new URLSearchParams(q)}`;
    const bars = (title, counts, opts = {}) => {
      const most = Math.max(1, ...counts.map((c) => c.count));
      return h('div', { class: 'al-bars' },
        h('h3', {}, title),
        counts.length ? h('table', { class: 'al-bar-table' }, h('tbody', {}, counts.map((c) => h('tr', {},
          h('td', { class: 'al-bar-label' }, opts.link ? h('a', { href: opts.link(c) }, opts.label(c)) : opts.label(c)),
          h('td', { class: 'al-bar-cell' }, h('span', { class: 'al-bar', 'data-w': Math.round((c.count / most) * 100) }, '')),
          h('td', { class: 'num' }, opts.link ? h('a', { href: opts.link(c) }, fmtNum(c.count)) : fmtNum(c.count))))))
          : h('p', { class: 'muted' }, '暂无在册成员'),
        counts.length ? exportButton(`${title}`, [
          { title: '代码 KEY', get: (c) => c.key },
          { title: '名称 LABEL', get: (c) => opts.label(c) },
          { title: '成员数 MEMBERS', get: (c) => String(c.count) },
        ], () => counts) : null);
    };
    const out = h('div', {},
      h('div', { class: 'kpis' },
        kpi(fmtNum(s.active_members), '在册成员', rosterLink({ state: 'ACTIVE' })),
        kpi(fmtNum(s.joins), `期内入会（${s.period_start} 至 ${s.period_end}）`, null),
        kpi(fmtNum(s.departures), '期内退出', null)),
      h('div', { class: 'al-breakdowns' },
        bars('按角色', s.by_role, { label: (c) => roleLabel(c.key) || c.label, link: (c) => rosterLink({ state: 'ACTIVE', role: c.key }) }),
        bars('按行业大类', s.by_industry_division, { label: (c) => (c.key === '-' ? '未知行业' : `${c.key} ${c.label}`) }),
        bars('按片区', s.by_zone, { label: (c) => (c.key === '-' ? '未入片区' : zoneName.get(c.key) || c.label || c.key) })));
    // Bar widths are set through the CSSOM (no inline style attributes).
    for (const b of out.querySelectorAll('.al-bar')) b.style.width = `${b.dataset.w}%`;
    return out;
  });
  fill(box, h('section', { class: 'card' }, h('h2', {}, '成员概况'), form, body));
  go();
  return go;
}

function kpi(n, label, href) {
  return h('div', { class: 'kpi' }, href ? h('a', { href, class: 'n' }, n) : h('span', { class: 'n' }, n), h('span', { class: 'l' }, label));
}

/** The roster, paged on the server, with its filters and (for editors) the add form. */
function drawRoster(ctx, id, alliance, roster, body, refreshSummary) {
  const parent = `alliances/${id}`;
  const state = h('select', { id: 'roster-state' },
    h('option', { value: '' }, '全部'), h('option', { value: 'ACTIVE' }, '在册'), h('option', { value: 'ENDED' }, '已退出'));
  state.value = ctx.query.get('state') || '';
  const role = h('select', { id: 'roster-role' }, h('option', { value: '' }, '全部角色'), ROLES.map(([s, , l]) => h('option', { value: s }, l)));
  role.value = ctx.query.get('role') || '';
  const code = h('input', { type: 'text', id: 'roster-code', placeholder: '信用代码', maxlength: 24, value: ctx.query.get('code') || '' });
  const filters = h('form', { class: 'toolbar', onsubmit: (e) => {
    e.preventDefault();
    apply();
  } }, field('状态', state), field('角色', role), field('企业信用代码', code), h('button', { type: 'submit', class: 'secondary' }, '筛选'));
  state.addEventListener('change', () => apply());
  role.addEventListener('change', () => apply());

  let current = null;
  // After a change: re-read the page and the summary, and reopen the changed membership's history.
  const reload = async (m) => {
    if (refreshSummary) refreshSummary();
    if (!current) return;
    await current.reload();
    const b = m && body.querySelector(`button[data-history="${codeOf(m.enterprise)}"]`);
    if (b) b.click();
  };
  function apply() {
    const q = new URLSearchParams(location.hash.split('?')[1] || '');
    q.set('state', state.value);
    q.set('role', role.value);
    q.set('code', code.value.trim().toUpperCase());
    setRouteQuery(q);
    const cond = [];
    if (state.value) cond.push(`state = ${state.value}`);
    if (role.value) cond.push(`role = ${role.value}`);
    if (code.value.trim()) cond.push(`credit_code = "${code.value.trim().replace(/"/g, '')}"`);
    const filter = cond.join(' AND ');
    const columns = [
      { title: '企业名称 NAME', get: (m) => firmLink(m.enterprise, m.enterprise_display_name || codeOf(m.enterprise)), text: (m) => m.enterprise_display_name },
      { title: '信用代码 CODE', get: (m) => h('code', {}, codeOf(m.enterprise)), text: (m) => codeOf(m.enterprise) },
      { title: '角色 ROLE', get: (m) => h('span', { class: `al-role ${m.role}` }, roleLabel(m.role)), text: (m) => roleLabel(m.role) },
      { title: '状态 STATE', get: (m) => stateTag(m), text: (m) => (isActive(m) ? '在册' : '已退出') },
      { title: '加入日期 DATE', get: (m) => m.join_date },
      { title: '退出日期 END DATE', get: (m) => m.end_date },
      { title: '退出原因 REASON', get: (m) => END_REASON_LABELS[m.end_reason] || '' },
      { title: '备注 NOTE', get: (m) => m.note },
      { title: '操作 ACTIONS', noExport: true, get: (m, ctl) => {
        if (!ctl) return '';
        const hist = h('button', { type: 'button', class: 'secondary al-small', 'data-history': codeOf(m.enterprise), 'aria-expanded': 'false' }, '历史');
        hist.addEventListener('click', () => {
          const open = ctl.toggle(() => membershipPanel(ctx, m.name, { onChange: reload, focus: null }));
          hist.setAttribute('aria-expanded', String(open));
        });
        const acts = [hist];
        if (ctx.who.may_write && isActive(m)) {
          acts.push(h('button', { type: 'button', class: 'secondary al-small al-danger', 'data-end': codeOf(m.enterprise), onclick: () => {
            if (ctl.detail) ctl.toggle();
            ctl.toggle(() => membershipPanel(ctx, m.name, { onChange: reload, focus: 'end' }));
            hist.setAttribute('aria-expanded', 'true');
          } }, '退出'));
        }
        return h('span', { class: 'al-actions' }, acts);
      } },
    ];
    current = pagedTable({ render: rowsTable,
      title: `${alliance.display_name} 成员名单`,
      columns,
      pageSize: 50,
      empty: filter ? '没有符合条件的成员' : '还没有成员',
      fetchPage: async (t, n) => {
        const r = await ctx.call('AllianceService', 'ListMemberships', { parent, page_size: n, page_token: t, filter });
        return { rows: r.memberships, next: r.next_page_token };
      },
    });
    fill(body, current);
  }

  const add = ctx.who.may_write && !alliance.delete_time ? addMemberForm(ctx, parent, (m) => {
    if (refreshSummary) refreshSummary();
    if (current) current.reload().then(() => {
      const b = body.querySelector(`button[data-history="${codeOf(m.enterprise)}"]`);
      if (b) b.click();
    });
  }) : null;
  fill(roster,
    h('div', { class: 'al-head' }, h('h2', {}, '成员名单'), h('span', { class: 'spacer' }),
      add ? h('button', { type: 'button', id: 'member-add-open', onclick: () => {
        add.hidden = !add.hidden;
        if (!add.hidden) add.querySelector('input').focus();
      } }, '添加成员') : null),
    add, filters, body);
  apply();
}

function roleSelect(id, value, withEmpty) {
  const s = h('select', { id }, withEmpty ? h('option', { value: '' }, withEmpty) : null, ROLES.map(([, full, l]) => h('option', { value: full }, l)));
  s.value = value;
  return s;
}

/** CreateMembership: firm code, role, join date, note. */
function addMemberForm(ctx, parent, done) {
  const code = h('input', { type: 'text', id: 'member-code', required: true, maxlength: 24, placeholder: '18 位统一社会信用代码', autocomplete: 'off' });
  const role = roleSelect('member-role', 'MEMBERSHIP_ROLE_MEMBER');
  const date = h('input', { type: 'date', id: 'member-date', value: todayCst(), max: todayCst() });
  const note = h('input', { type: 'text', id: 'member-note', maxlength: 500, placeholder: '可选' });
  const out = h('div', { class: 'al-form-out' });
  const submit = h('button', { type: 'submit', id: 'member-add' }, '添加');
  const form = h('form', { class: 'al-form', id: 'member-add-form', hidden: true, onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(out);
    try {
      const m = await ctx.call('AllianceService', 'CreateMembership', {
        parent,
        credit_code: code.value.trim(),
        membership: { role: role.value, join_date: date.value, note: note.value.trim() },
        request_id: requestId(),
      });
      const rejoined = m.events.filter((ev) => ev.kind === 'MEMBERSHIP_EVENT_KIND_REJOINED').length > 0 && m.events.length > 1;
      toast(`${m.enterprise_display_name} 已${rejoined ? '重新' : ''}加入，角色：${roleLabel(m.role)}`);
      fill(out, h('div', { class: 'notice' }, `已添加：`, firmLink(m.enterprise, m.enterprise_display_name), `（${roleLabel(m.role)}，${m.join_date} 起）`));
      code.value = '';
      note.value = '';
      done(m);
    } catch (err) {
      fill(out, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  } },
  h('h3', {}, '添加成员'),
  h('div', { class: 'form-grid' },
    field('企业信用代码', code, '须为已登记的企业；曾退出的企业将重新入会，历史保留'),
    field('角色', role, '每个联盟至多一家在任理事长单位'),
    field('加入日期', date, '不能晚于今天'),
    field('备注', note)),
  h('div', { class: 'toolbar' }, submit, h('button', { type: 'button', class: 'secondary', onclick: () => {
    form.hidden = true;
  } }, '取消')),
  out);
  return form;
}

/**
 * A membership's panel: its record and full history (GetMembership) and, for
 * editors and an active membership, the role change and end forms.
 */
async function membershipPanel(ctx, name, { onChange, focus, standalone }) {
  const m = await ctx.call('AllianceService', 'GetMembership', { name });
  const box = h('div', { class: 'al-panel', 'data-membership': name });
  box.membership = m;
  const changed = async (r) => {
    if (onChange) return onChange(r);
    try {
      box.replaceWith(await membershipPanel(ctx, name, { onChange, focus: null, standalone }));
    } catch (e) {
      fill(box, errorBox(e));
    }
    return null;
  };
  const events = table([
    { title: '日期 DATE', get: (e) => e.date },
    { title: '事件 EVENT', get: (e) => h('span', { class: `al-ev ${e.kind}` }, EVENT_KINDS[e.kind] || e.kind) },
    { title: '角色 ROLE', get: (e) => (e.kind === 'MEMBERSHIP_EVENT_KIND_ENDED' ? '' : roleLabel(e.role)) },
    { title: '退出原因 REASON', get: (e) => END_REASON_LABELS[e.end_reason] || '' },
    { title: '备注 NOTE', get: (e) => e.note },
    { title: '经办 BY', get: (e) => e.actor },
    { title: '记录时间 TIME (UTC+8)', get: (e) => fmtTime(e.record_time) },
  ], m.events, { class: 'al-events' });
  const forms = [];
  if (ctx.who.may_write && isActive(m)) {
    forms.push(roleForm(ctx, m, changed));
    forms.push(endForm(ctx, m, changed, focus === 'end'));
  }
  fill(box,
    h('div', { class: 'al-panel-head' },
      h('strong', {}, '成员资格历史'), ' ',
      h('span', { class: 'muted' }, `${m.enterprise_display_name} · ${m.alliance_display_name} · ${roleLabel(m.role)} · `), stateTag(m),
      h('span', { class: 'spacer' }),
      standalone ? null : h('a', { href: membershipHref(m) }, '单独打开')),
    m.note ? h('p', { class: 'muted' }, `备注：${m.note}`) : null,
    events,
    forms.length ? h('div', { class: 'al-panel-forms' }, forms) : null);
  if (focus === 'end') {
    setTimeout(() => {
      const f = box.querySelector('.al-end-form select');
      if (f) f.focus();
    }, 0);
  }
  return box;
}

/** UpdateMembership (role): the new role, its date and, for a hand-over, the outgoing chair's role. */
function roleForm(ctx, m, done) {
  const role = roleSelect('membership-role', m.role);
  const date = h('input', { type: 'date', value: todayCst(), max: todayCst(), min: m.join_date || null });
  const prevChair = roleSelect('membership-prev-chair', 'MEMBERSHIP_ROLE_VICE_CHAIR', '（不交接）');
  const prevWrap = field('原理事长单位改任', prevChair, '另一家为理事长单位时，同一变更中交接');
  const syncPrev = () => {
    prevWrap.hidden = role.value !== 'MEMBERSHIP_ROLE_CHAIR' || m.role === 'MEMBERSHIP_ROLE_CHAIR';
  };
  role.addEventListener('change', syncPrev);
  syncPrev();
  prevChair.querySelector('option[value="MEMBERSHIP_ROLE_CHAIR"]').remove();
  const out = h('div');
  const submit = h('button', { type: 'submit', class: 'secondary' }, '变更角色');
  const form = h('form', { class: 'al-form al-role-form', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(out);
    try {
      const req = {
        membership: { name: m.name, role: role.value },
        update_mask: 'role',
        effective_date: date.value,
        etag: m.etag,
        request_id: requestId(),
      };
      if (!prevWrap.hidden && prevChair.value) req.previous_chair_role = prevChair.value;
      const r = await ctx.call('AllianceService', 'UpdateMembership', req);
      toast(`角色已变更为 ${roleLabel(r.role)}`);
      await done(r);
    } catch (err) {
      fill(out, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  } },
  h('h3', {}, '变更角色'),
  h('div', { class: 'al-inline' }, field('新角色', role), field('生效日期', date), prevWrap, submit),
  out);
  return form;
}

/** EndMembership: the last day, the reason and a note (required with 其他). */
function endForm(ctx, m, done, highlight) {
  const reason = h('select', { class: 'al-end-reason', required: true },
    h('option', { value: '' }, '请选择原因'), END_REASONS.map(([v, l]) => h('option', { value: v }, l)));
  const date = h('input', { type: 'date', class: 'al-end-date', value: todayCst(), max: todayCst(), min: m.join_date || null });
  const note = h('input', { type: 'text', class: 'al-end-note', maxlength: 500, placeholder: '选“其他”时必填' });
  const out = h('div');
  const submit = h('button', { type: 'submit', class: 'danger', 'data-end-submit': codeOf(m.enterprise) }, '结束成员资格');
  const form = h('form', { class: `al-form al-end-form${highlight ? ' al-highlight' : ''}`, onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    fill(out);
    try {
      const r = await ctx.call('AllianceService', 'EndMembership', {
        name: m.name,
        end_date: date.value,
        reason: reason.value || 'END_REASON_UNSPECIFIED',
        note: note.value.trim(),
        etag: m.etag,
        request_id: requestId(),
      });
      toast(`${r.enterprise_display_name} 已于 ${r.end_date} 退出`);
      await done(r);
    } catch (err) {
      fill(out, errorBox(err));
    } finally {
      submit.disabled = false;
    }
  } },
  h('h3', {}, '结束成员资格（退出）'),
  h('div', { class: 'al-inline' }, field('退出原因', reason), field('最后一天', date), field('备注', note), submit),
  out);
  return form;
}

// ---- one membership on its own page --------------------------------------

async function renderMembershipPage(root, ctx, id, code) {
  const name = `alliances/${id}/memberships/${code}`;
  const body = h('div');
  fill(root,
    h('nav', { class: 'al-crumbs' }, h('a', { href: '#/alliances' }, '产业联盟'), ' › ',
      h('a', { href: `#/alliances/${encodeURIComponent(id)}`, id: 'crumb-alliance' }, id), ' › ', h('span', {}, code)),
    h('section', { class: 'card' }, body));
  await load(body, async () => {
    const draw = async () => {
      const panel = await membershipPanel(ctx, name, { onChange: () => renderMembershipPage(root, ctx, id, code), focus: null, standalone: true });
      const m = panel.membership;
      const crumb = root.querySelector('#crumb-alliance');
      if (crumb && m.alliance_display_name) crumb.textContent = m.alliance_display_name;
      return h('div', {},
        h('h1', {}, firmLink(m.enterprise, m.enterprise_display_name), h('span', { class: 'muted al-sub' }, ` · ${m.alliance_display_name}`)),
        h('dl', { class: 'record al-record' },
          h('dt', {}, '信用代码'), h('dd', {}, h('code', {}, codeOf(m.enterprise))),
          h('dt', {}, '当前角色'), h('dd', {}, roleLabel(m.role)),
          h('dt', {}, '状态'), h('dd', {}, stateTag(m), isActive(m) ? ` 自 ${m.join_date} 起` : ` ${m.end_date} 退出（${END_REASON_LABELS[m.end_reason] || ''}）`),
          h('dt', {}, '首次登记'), h('dd', {}, fmtTime(m.create_time)),
          h('dt', {}, '最近修改'), h('dd', {}, fmtTime(m.update_time))),
        panel);
    };
    return draw();
  });
}
