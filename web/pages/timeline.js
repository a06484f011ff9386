// A firm's cultivation on a time axis, drawn as SVG: the stage it was on
// (a step band, from CultivationService.GetEnterpriseStage), each designation
// as a validity bar (ListDesignations), today, and the expiries ahead.
// Also the designation labels the firm pages share.

import { h, fill, addDays, STAGES, stageLabel } from '../ui.js';

/** Designation kinds: enum suffix → [official label, short label]. */
export const KINDS = [
  ['INCUBATED', '在孵企业', '在孵'],
  ['TECH_SME', '科技型中小企业', '科小'],
  ['HIGH_TECH', '高新技术企业', '高企'],
  ['ABOVE_SCALE_INDUSTRY', '规上工业企业', '规上工业'],
  ['ABOVE_SCALE_SERVICES', '规上服务业企业', '规上服务'],
  ['ABOVE_QUOTA_TRADE', '限上批零住餐企业', '限上'],
  ['INNOVATIVE_SME', '创新型中小企业', '创新型'],
  ['SPECIALISED_SME', '专精特新中小企业', '专精特新'],
  ['LITTLE_GIANT', '专精特新“小巨人”企业', '小巨人'],
  ['SINGLE_CHAMPION', '制造业单项冠军', '单项冠军'],
  ['GAZELLE', '瞪羚企业', '瞪羚'],
  ['POTENTIAL_GAZELLE', '潜在瞪羚企业', '潜在瞪羚'],
  ['UNICORN', '独角兽企业', '独角兽'],
  ['POTENTIAL_UNICORN', '潜在独角兽企业', '潜在独角兽'],
  ['NEEQ_LISTING', '新三板挂牌', '新三板'],
  ['REGIONAL_EQUITY_LISTING', '区域性股权市场挂牌', '四板'],
  ['EXCHANGE_LISTING', '境内外交易所上市', '上市'],
];

const KIND_PREFIX = 'DESIGNATION_KIND_';

/** `DESIGNATION_KIND_HIGH_TECH`, `HIGH_TECH`, `high_tech` → `DESIGNATION_KIND_HIGH_TECH` ('' when unknown). */
export function normKind(value) {
  const bare = String(value || '').trim().toUpperCase().replace(KIND_PREFIX, '');
  const k = KINDS.find(([id, long, short]) => id === bare || long === value || short === value);
  return k ? KIND_PREFIX + k[0] : '';
}

/** The official Chinese label of a kind enum. */
export function kindLabel(kind) {
  const k = KINDS.find(([id]) => KIND_PREFIX + id === kind);
  return k ? k[1] : String(kind || '').replace(KIND_PREFIX, '');
}

/** The short label staff use (高企, 小巨人…). */
export function kindShort(kind) {
  const k = KINDS.find(([id]) => KIND_PREFIX + id === kind);
  return k ? k[2] : String(kind || '').replace(KIND_PREFIX, '');
}

/** Designation statuses in Chinese. */
export const STATUS_LABELS = {
  DESIGNATION_STATUS_UNSPECIFIED: '未设置',
  DESIGNATION_STATUS_APPLYING: '申报中',
  DESIGNATION_STATUS_PUBLIC_NOTICE: '公示中',
  DESIGNATION_STATUS_GRANTED: '已认定',
  DESIGNATION_STATUS_UNDER_REVIEW: '复核中',
  DESIGNATION_STATUS_LAPSED: '已失效',
  DESIGNATION_STATUS_REVOKED: '已撤销',
};

/** Issuing levels in Chinese. */
export const LEVEL_LABELS = {
  ISSUING_LEVEL_UNSPECIFIED: '',
  ISSUING_LEVEL_NATIONAL: '国家级',
  ISSUING_LEVEL_PROVINCIAL: '省级',
  ISSUING_LEVEL_MUNICIPAL: '市级',
  ISSUING_LEVEL_DISTRICT: '区县级',
  ISSUING_LEVEL_OTHER: '其他',
};

/** Why a stage changed, in Chinese. */
export const CAUSE_LABELS = {
  STAGE_CHANGE_CAUSE_UNSPECIFIED: '',
  STAGE_CHANGE_CAUSE_GRANTED: '认定生效',
  STAGE_CHANGE_CAUSE_REVOKED: '撤销',
  STAGE_CHANGE_CAUSE_EXPIRED: '到期失效',
  STAGE_CHANGE_CAUSE_CORRECTED: '更正',
};

const GRANTED_LIKE = new Set([
  'DESIGNATION_STATUS_GRANTED', 'DESIGNATION_STATUS_UNDER_REVIEW',
  'DESIGNATION_STATUS_LAPSED', 'DESIGNATION_STATUS_REVOKED',
]);

/** Whether the designation was ever granted (so it can count at all). */
export function wasGranted(d) {
  return GRANTED_LIKE.has(d.status);
}

/** Whether a designation counts on `day` (YYYY-MM-DD), as the server decides. */
export function countsOn(d, day) {
  if (!wasGranted(d) || !d.valid_from) return false;
  if (d.valid_from > day) return false;
  if (d.valid_until && day > d.valid_until) return false;
  if (d.ended_date && day >= d.ended_date) return false;
  return true;
}

/** The last day a granted designation counts ('' when open-ended). */
export function lastDay(d) {
  let end = d.valid_until || '';
  if (d.ended_date) {
    const before = addDays(d.ended_date, -1);
    if (!end || before < end) end = before;
  }
  return end;
}

/** Days from `a` to `b` (YYYY-MM-DD). */
export function daysBetween(a, b) {
  return Math.round((dayNum(b) - dayNum(a)));
}

function dayNum(date) {
  return Date.parse(`${date}T00:00:00Z`) / 86400000;
}

function stageIndex(stage) {
  const i = STAGES.findIndex(([k]) => k === stage);
  return i < 0 ? 0 : i;
}

/** How many days ahead an expiry is highlighted. */
export const EXPIRY_WINDOW_DAYS = 180;

/**
 * Where a designation stands on `today`, for drawing:
 * active | expiring | future | expired | revoked | lapsed | pending.
 */
export function designationState(d, today) {
  if (!wasGranted(d)) return 'pending';
  if (d.status === 'DESIGNATION_STATUS_REVOKED') return 'revoked';
  if (d.status === 'DESIGNATION_STATUS_LAPSED') return 'lapsed';
  if (!d.valid_from) return 'pending';
  if (d.valid_from > today) return 'future';
  const end = lastDay(d);
  if (end && end < today) return 'expired';
  if (end && daysBetween(today, end) <= EXPIRY_WINDOW_DAYS) return 'expiring';
  return 'active';
}

const STATE_TEXT = {
  active: '有效', expiring: '即将到期', future: '未生效', expired: '已过期',
  revoked: '已撤销', lapsed: '已失效', pending: '申报/公示中',
};

/**
 * The timeline view: expiry notices, the SVG (redrawn to the container's
 * width) and a legend. `stage` is an EnterpriseStage (may be null),
 * `designations` the firm's designations, `today` YYYY-MM-DD.
 */
export function timelineView({ stage, designations, today }) {
  const svgBox = h('div', { class: 'tl-svg' });
  const root = h('div', { class: 'tl-view' });
  const ahead = designations
    .filter((d) => designationState(d, today) === 'expiring')
    .sort((a, b) => lastDay(a).localeCompare(lastDay(b)));
  const barred = designations.filter((d) => d.barred_until && d.barred_until >= today);
  const notices = [];
  if (ahead.length) {
    notices.push(h('div', { class: 'warnbox tl-ahead' },
      h('strong', {}, `${EXPIRY_WINDOW_DAYS} 天内到期：`),
      ahead.map((d, i) => [i ? '；' : '', `${kindLabel(d.kind)} ${lastDay(d)}（还剩 ${daysBetween(today, lastDay(d))} 天）`])));
  }
  if (barred.length) {
    notices.push(h('div', { class: 'notice' },
      h('strong', {}, '禁止重新申报：'),
      barred.map((d, i) => [i ? '；' : '', `${kindLabel(d.kind)} 至 ${d.barred_until}`])));
  }
  const legend = h('div', { class: 'tl-legend', 'aria-label': '图例' },
    h('span', {}, h('i', { class: 'sw band' }), '梯度（阶梯高度）'),
    STAGES.slice(1).map(([k, label], i) => h('span', {}, h('i', { class: `sw s${i + 1}` }), label)),
    h('span', {}, h('i', { class: 'sw expiring' }), `${EXPIRY_WINDOW_DAYS} 天内到期`),
    h('span', {}, h('i', { class: 'sw expired' }), '已过期'),
    h('span', {}, h('i', { class: 'sw revoked' }), '已撤销 / 失效（✕ 为终止日）'),
    h('span', {}, h('i', { class: 'sw void' }), '原定有效期（未用完）'),
    h('span', {}, h('i', { class: 'sw pending' }), '申报 / 公示中'),
    h('span', {}, h('i', { class: 'sw today' }), '今天'),
    h('span', {}, h('i', { class: 'sw up' }), '升级'),
    h('span', {}, h('i', { class: 'sw down' }), '降级'));
  fill(root, notices, svgBox, legend);
  let lastWidth = 0;
  const draw = () => {
    const width = Math.max(300, Math.floor(svgBox.clientWidth || root.clientWidth || 900));
    if (Math.abs(width - lastWidth) < 4) return;
    lastWidth = width;
    fill(svgBox, drawTimeline({ stage, designations, today, width }));
  };
  // Draw once attached (the width is known then), and again when it changes.
  requestAnimationFrame(draw);
  if (typeof ResizeObserver === 'function') {
    let pending = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(pending);
      pending = requestAnimationFrame(draw);
    }).observe(svgBox);
  }
  // Something to show even before the first frame (e.g. a DOM dump).
  fill(svgBox, drawTimeline({ stage, designations, today, width: 900 }));
  return root;
}

function s(tag, attrs, ...children) {
  return h(`svg:${tag}`, attrs, ...children);
}

/** The SVG itself, `width` pixels wide. */
export function drawTimeline({ stage, designations, today, width }) {
  const narrow = width < 620;
  const gutter = narrow ? 74 : 150;
  const right = 14;
  const axisH = 26;
  const levelH = narrow ? 14 : 17;
  const bandH = levelH * 5;
  const laneH = narrow ? 22 : 24;
  const barH = narrow ? 12 : 14;
  const history = (stage && stage.history) || [];
  const spells = (stage && stage.spells) || [];

  // The span: from the first thing known to a little after the last, always
  // with today and some of the future in view.
  const dates = [today];
  for (const d of designations) {
    for (const x of [d.valid_from, d.issued_date, d.ended_date]) if (x) dates.push(x);
    const end = lastDay(d);
    if (end && end < addDays(today, 365 * 6)) dates.push(end);
  }
  for (const c of history) dates.push(c.date);
  dates.sort();
  let startYear = Number(dates[0].slice(0, 4));
  let endYear = Number(dates[dates.length - 1].slice(0, 4)) + 1;
  const todayYear = Number(today.slice(0, 4));
  if (endYear < todayYear + 2) endYear = todayYear + 2;
  if (endYear - startYear < 4) startYear = endYear - 4;
  const from = `${startYear}-01-01`;
  const to = `${endYear}-01-01`;
  const x0 = gutter;
  const x1 = width - right;
  const span = dayNum(to) - dayNum(from);
  const X = (date) => x0 + ((dayNum(date) - dayNum(from)) / span) * (x1 - x0);
  const clampX = (date) => Math.max(x0, Math.min(x1, X(date)));

  const sorted = [...designations].sort((a, b) =>
    (a.valid_from || a.issued_date || '9999').localeCompare(b.valid_from || b.issued_date || '9999')
    || a.kind.localeCompare(b.kind));
  const bandTop = axisH + 8;
  const lanesTop = bandTop + bandH + 30;
  const lanesBottom = lanesTop + Math.max(1, sorted.length) * laneH;
  const height = lanesBottom + 26;
  const svg = s('svg', {
    class: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`,
    role: 'img', 'aria-label': '梯度与认定时间轴',
  });

  // Year grid and labels.
  const years = endYear - startYear;
  const pxPerYear = (x1 - x0) / years;
  const step = [1, 2, 5, 10].find((n) => n * pxPerYear >= (narrow ? 40 : 48)) || 10;
  const grid = s('g', { class: 'tl-grid' });
  for (let y = startYear; y <= endYear; y++) {
    const x = X(`${y}-01-01`);
    grid.append(s('line', { x1: x, x2: x, y1: axisH - 4, y2: lanesBottom, class: y % step === 0 ? 'major' : 'minor' }));
    if (y % step === 0 && y < endYear) {
      grid.append(s('text', { x: x + 3, y: axisH - 9, class: 'tl-year' }, String(y)));
    }
  }
  svg.append(grid);

  // The stage band: level lines and labels, the step area by spell.
  const levelY = (i) => bandTop + bandH - i * levelH;
  const band = s('g', { class: 'tl-band' });
  band.append(s('text', { x: 4, y: bandTop - 2, class: 'tl-section' }, '梯度'));
  for (let i = 1; i <= 5; i++) {
    band.append(s('line', { x1: x0, x2: x1, y1: levelY(i), y2: levelY(i), class: 'tl-level' }));
    band.append(s('text', { x: x0 - 6, y: levelY(i) + levelH / 2 + 4, class: 'tl-level-label' }, STAGES[i][1]));
  }
  band.append(s('line', { x1: x0, x2: x1, y1: levelY(0), y2: levelY(0), class: 'tl-base' }));
  for (const sp of spells) {
    const i = stageIndex(sp.stage);
    if (!i) continue;
    const end = sp.exited || addDays(today, 1);
    const xa = clampX(sp.entered);
    const xb = clampX(end);
    band.append(s('rect', {
      x: xa, y: levelY(i), width: Math.max(1, xb - xa), height: levelY(0) - levelY(i), class: `tl-stage s${i}`,
    }, s('title', {}, `${stageLabel(sp.stage)}：${sp.entered} 至 ${sp.exited ? addDays(sp.exited, -1) : '今'}（${sp.days} 天）`)));
    if (xb - xa > 46) {
      band.append(s('text', { x: xa + 4, y: levelY(i) + 11, class: 'tl-stage-text' }, stageLabel(sp.stage)));
    }
  }
  // The step line over the band.
  if (history.length) {
    let d = '';
    let level = 0;
    let x = X(history[0].date);
    d += `M${x} ${levelY(0)}`;
    for (const c of history) {
      x = clampX(c.date);
      d += ` L${x} ${levelY(level)}`;
      level = stageIndex(c.to_stage);
      d += ` L${x} ${levelY(level)}`;
    }
    d += ` L${clampX(today)} ${levelY(level)}`;
    band.append(s('path', { d, class: 'tl-step' }));
    for (const c of history) {
      const up = stageIndex(c.to_stage) > stageIndex(c.from_stage);
      band.append(s('circle', {
        cx: clampX(c.date), cy: levelY(stageIndex(c.to_stage)), r: 4, class: `tl-change ${up ? 'up' : 'down'}`,
      }, s('title', {}, `${c.date} ${stageLabel(c.from_stage)} → ${stageLabel(c.to_stage)}：${CAUSE_LABELS[c.cause] || ''} ${kindLabel(c.designation_kind)}${c.reason ? `（${c.reason}）` : ''}`)));
    }
  } else {
    band.append(s('text', { x: x0 + 8, y: levelY(0) - 6, class: 'tl-empty' }, '从未入梯'));
  }
  svg.append(band);

  // One lane per designation.
  const lanes = s('g', { class: 'tl-lanes' });
  lanes.append(s('text', { x: 4, y: lanesTop - 8, class: 'tl-section' }, `认定（${designations.length}）`));
  if (!sorted.length) {
    lanes.append(s('text', { x: x0 + 8, y: lanesTop + 16, class: 'tl-empty' }, '暂无认定记录'));
  }
  sorted.forEach((d, row) => {
    const y = lanesTop + row * laneH;
    const cy = y + laneH / 2;
    const state = designationState(d, today);
    const i = stageIndex(d.stage);
    const g = s('g', { class: `tl-lane ${state}`, 'data-designation': d.name });
    if (row % 2 === 0) g.append(s('rect', { x: 0, y, width, height: laneH, class: 'tl-stripe' }));
    const label = narrow ? kindShort(d.kind) : kindLabel(d.kind);
    g.append(s('text', { x: x0 - 6, y: cy + 4, class: 'tl-kind' }, label));
    const tip = [
      `${kindLabel(d.kind)}（${stageLabel(d.stage)}）— ${STATUS_LABELS[d.status] || d.status} · ${STATE_TEXT[state]}`,
      d.valid_from ? `有效期：${d.valid_from} 至 ${d.valid_until || '长期'}` : '尚未生效',
      d.ended_date ? `终止：${d.ended_date}${d.end_reason ? `（${d.end_reason}）` : ''}` : '',
      d.barred_until ? `禁止重新申报至 ${d.barred_until}` : '',
      d.certificate_number ? `证书：${d.certificate_number}` : '',
      d.authority ? `机关：${d.authority}` : '',
      d.batch ? `批次：${d.batch}` : '',
    ].filter(Boolean).join('\n');
    if (state === 'pending') {
      const at = d.issued_date || today;
      const x = clampX(at);
      g.append(s('rect', { x: x - 3, y: cy - barH / 2, width: 46, height: barH, rx: 3, class: 'tl-bar pending' }, s('title', {}, tip)));
      g.append(s('text', { x: x + 2, y: cy + 4, class: 'tl-bar-text dark' }, STATUS_LABELS[d.status] || '申报中'));
      lanes.append(g);
      return;
    }
    const startX = clampX(d.valid_from);
    const end = lastDay(d);
    const openEnded = !end || end >= to;
    const endX = openEnded ? x1 : clampX(addDays(end, 1));
    // The validity that was never used (after a revocation or lapse).
    if (d.ended_date && d.valid_until && d.valid_until >= d.ended_date) {
      const vx = clampX(d.ended_date);
      const vEnd = d.valid_until >= to ? x1 : clampX(addDays(d.valid_until, 1));
      g.append(s('rect', { x: vx, y: cy - barH / 2, width: Math.max(1, vEnd - vx), height: barH, rx: 3, class: 'tl-void' }));
    }
    const cls = state === 'active' || state === 'future' ? `tl-bar s${i}${state === 'future' ? ' future' : ''}` : `tl-bar ${state}${state === 'expiring' ? ` s${i}` : ''}`;
    g.append(s('rect', { x: startX, y: cy - barH / 2, width: Math.max(2, endX - startX), height: barH, rx: 3, class: cls }, s('title', {}, tip)));
    if (openEnded) {
      g.append(s('path', { d: `M${x1 - 1} ${cy - barH / 2 - 2} L${x1 + 7} ${cy} L${x1 - 1} ${cy + barH / 2 + 2} Z`, class: `tl-open ${cls}` }));
    }
    if (d.ended_date) {
      const ex = clampX(d.ended_date);
      g.append(s('path', { d: `M${ex - 4} ${cy - 4} L${ex + 4} ${cy + 4} M${ex - 4} ${cy + 4} L${ex + 4} ${cy - 4}`, class: 'tl-end-mark' },
        s('title', {}, `${STATUS_LABELS[d.status]} ${d.ended_date}${d.end_reason ? `：${d.end_reason}` : ''}`)));
    }
    // Dates inside the bar when there is room, else the state after it.
    const w = endX - startX;
    const dark = !(state === 'active' || state === 'expiring' || state === 'future') || i <= 1;
    const text = `${d.valid_from} – ${end || '长期'}`;
    if (w > (narrow ? 150 : 168)) {
      g.append(s('text', { x: startX + 5, y: cy + 4, class: `tl-bar-text${dark ? ' dark' : ''}` }, text));
    }
    const note = state === 'expiring' ? `${daysBetween(today, end)} 天后到期`
      : state === 'revoked' ? '撤销' : state === 'lapsed' ? '失效' : '';
    if (note) {
      const voidEnd = d.ended_date && d.valid_until && d.valid_until >= d.ended_date
        ? (d.valid_until >= to ? x1 : clampX(addDays(d.valid_until, 1))) : 0;
      const after = Math.max(endX, voidEnd) + 8;
      const fits = after + note.length * 12 < x1;
      g.append(s('text', {
        x: fits ? after : Math.max(x0 + 2, startX - 6), y: cy + 4,
        class: `tl-note ${state}`, 'text-anchor': fits ? 'start' : 'end',
      }, note));
    }
    lanes.append(g);
  });
  svg.append(lanes);

  // Today.
  const tx = X(today);
  svg.append(s('g', { class: 'tl-today' },
    s('line', { x1: tx, x2: tx, y1: axisH - 6, y2: lanesBottom + 4 }),
    s('rect', { x: tx - 24, y: lanesBottom + 5, width: 48, height: 17, rx: 3 }),
    s('text', { x: tx, y: lanesBottom + 18, 'text-anchor': 'middle' }, '今天'),
    s('title', {}, `今天 ${today}`)));
  return svg;
}
