// 数据同步: the health of the feeds, the sync runs (each with its failed rows
// and a previewed revert), and the upload of a CSV/XLSX file as a sync run
// (dry run first, then the same file for real).

import { upload } from '../api.js';
import {
  h, fill, fmtTime, fmtNum, errorBox, load, toast, table, pagedTable, exportButton, field, section, firmLink, codeOf, setRouteQuery, REASON_TEXT,
} from '../ui.js';

const CSS = '/assets/pages/sync.css';

function loadCss() {
  if (!document.querySelector(`link[href="${CSS}"]`)) {
    document.head.append(h('link', { rel: 'stylesheet', href: CSS }));
  }
}

// ---------------------------------------------------------------------------
// Labels.

const STATE = {
  SYNC_RUN_STATE_RUNNING: ['进行中', 'warn'],
  SYNC_RUN_STATE_SUCCEEDED: ['完成', 'ok'],
  SYNC_RUN_STATE_INTERRUPTED: ['中断', 'bad'],
};

function stateLabel(run) {
  return (STATE[run.state] || [run.state || '', ''])[0];
}

function stateTag(run) {
  const [label, kind] = STATE[run.state] || [run.state || '—', ''];
  return h('span', { class: `tag state ${kind}` }, label);
}

function modeLabel(mode) {
  return mode === 'SYNC_MODE_FULL' ? '全量' : '增量';
}

/** The columns a sync file may have (src/cli/sync.rs COLUMNS), with what each takes. */
const COLUMNS = [
  ['credit_code', ['统一社会信用代码', '信用代码', 'credit_code'], '必填。18 位统一社会信用代码，每行一家企业，同一文件中不可重复'],
  ['display_name', ['企业名称', '名称', '单位名称', 'display_name', 'name'], '新建企业时必填'],
  ['industry_code', ['行业代码', '所属行业', 'industry_code'], 'GB/T 4754 行业小类，如 C3742 或 3742'],
  ['region_code', ['注册地', '注册地区划', '行政区划代码', 'region_code'], '6 位行政区划代码，如 610116'],
  ['founding_date', ['成立日期', 'founding_date'], 'YYYY-MM-DD（Excel 日期单元格亦可）'],
  ['address', ['注册地址', '地址', 'address'], ''],
  ['legal_representative', ['法定代表人', 'legal_representative'], ''],
  ['promotion_zone', ['片区', '招商片区', 'promotion_zone', 'zone'], '片区编号'],
  ['service_commissioner', ['服务专员', 'service_commissioner'], ''],
  ['tags', ['标签', 'tags'], '多个标签用分号（; 或 ；）或顿号（、）分隔'],
  ['website', ['网站', 'website'], ''],
  ['notes', ['备注', 'notes'], ''],
];

const FIELD_LABEL = Object.fromEntries(COLUMNS.map(([f, names]) => [`enterprise.${f}`, names[0]]));

/** Chinese explanations of the reasons a row fails with: the shared table. */
const REASON = REASON_TEXT;

function problemText(f) {
  const prefix = `${f.field}: `;
  return f.description.startsWith(prefix) ? f.description.slice(prefix.length) : f.description;
}

const FAILURE_COLUMNS = [
  { title: '行号 ROW', class: 'num', get: (f) => String(Number(f.row_number)) },
  { title: '信用代码 CODE', get: (f) => h('code', {}, f.credit_code) },
  {
    title: '字段 FIELD',
    get: (f) => (FIELD_LABEL[f.field] ? h('span', { title: f.field }, FIELD_LABEL[f.field]) : h('code', {}, f.field)),
    text: (f) => FIELD_LABEL[f.field] || f.field,
  },
  {
    title: '原因 REASON',
    get: (f) => h('span', {}, REASON[f.reason] ? `${REASON[f.reason]} ` : '', h('code', { class: 'muted' }, f.reason)),
    text: (f) => (REASON[f.reason] ? `${REASON[f.reason]} ${f.reason}` : f.reason),
  },
  { title: '问题说明 DESCRIPTION', class: 'problem', get: problemText },
];

/** The failed rows of a run, paged on the server. */
function failuresTable(runName, title) {
  return pagedTable({
    title,
    columns: FAILURE_COLUMNS,
    pageSize: 50,
    empty: '没有失败的行',
    fetchPage: async (pageToken, pageSize) => {
      const r = await callApi('SyncService', 'ListSyncFailures', { parent: runName, page_size: pageSize, page_token: pageToken });
      return { rows: r.failures, next: r.next_page_token, total: Number(r.total_size) };
    },
  });
}

let callApi;

function runId(name) {
  return String(name || '').replace(/^syncRuns\//, '');
}

function runLink(name, label) {
  return h('a', { href: `#/sync/runs/${encodeURIComponent(runId(name))}` }, label || runId(name));
}

/** Counts of a run as KPI tiles. */
function runKpis(run) {
  const tile = (n, label, cls) => h('div', { class: `kpi ${cls || ''}` }, h('span', { class: 'n' }, fmtNum(n)), h('span', { class: 'l' }, label));
  return h('div', { class: 'kpis run-kpis' },
    tile(run.rows, '收到行数'),
    tile(run.created, run.dry_run ? '将新增' : '新增企业'),
    tile(run.updated, run.dry_run ? '将更新' : '更新企业'),
    tile(run.unchanged, '无变化'),
    tile(run.failed, '失败行', Number(run.failed) > 0 ? 'kpi-bad' : ''),
    run.mode === 'SYNC_MODE_FULL'
      ? tile(run.missing_from_source, run.dry_run ? '将报告来源缺失（仅报告，不删除）' : '来源缺失（仅报告）', Number(run.missing_from_source) > 0 ? 'kpi-warn' : '')
      : null);
}

/** The firms a FULL run found missing from the source (up to 1000). */
function missingBox(run) {
  const codes = run.missing_credit_codes || [];
  if (run.mode !== 'SYNC_MODE_FULL' || !Number(run.missing_from_source)) return null;
  return h('details', { class: 'missing' },
    h('summary', {}, `本来源以前发送、本次未出现的企业 ${fmtNum(run.missing_from_source)} 家（仅报告，不会删除）`),
    h('div', { class: 'code-list' }, codes.map((c) => firmLink(c))),
    Number(run.missing_from_source) > codes.length ? h('p', { class: 'muted' }, `仅列出前 ${codes.length} 家。`) : null);
}

// ---------------------------------------------------------------------------
// The list view: sources, upload, runs.

export async function render(root, ctx) {
  loadCss();
  callApi = ctx.call;
  if (ctx.parts[0] === 'runs' && ctx.parts[1]) return renderRun(root, ctx, ctx.parts[1]);

  const sourcesBox = h('div', { id: 'sources' });
  const runsBox = h('div', { id: 'runs' });
  let sources = [];

  const sourceFilter = h('select', { id: 'runs-source', onchange: () => { setRouteQuery({ source: sourceFilter.value }); drawRuns(); } },
    h('option', { value: '' }, '全部来源'));

  async function drawSources() {
    await load(sourcesBox, async () => {
      const r = await ctx.call('SyncService', 'ListSources', {});
      sources = r.sources;
      const wanted = sourceFilter.value || ctx.query.get('source') || '';
      fill(sourceFilter, h('option', { value: '' }, '全部来源'),
        sources.map((s) => h('option', { value: s.source }, s.source)));
      if (wanted && !sources.some((s) => s.source === wanted)) sourceFilter.append(h('option', { value: wanted }, wanted));
      sourceFilter.value = wanted;
      return sourcesTable(sources);
    });
  }

  function sourcesTable(list) {
    if (!list.length) return h('p', { class: 'muted' }, '还没有任何同步来源。用下方的上传导入，或 ladder sync 命令同步第一批企业。');
    const late = list.filter((s) => s.late).length;
    const cols = [
      { title: '来源 SOURCE', get: (s) => h('a', { href: '#/sync', class: 'source-link', onclick: (e) => { e.preventDefault(); pickSource(s.source); } }, s.source), text: (s) => s.source },
      { title: '状态 STATE', get: (s) => (s.late ? h('span', { class: 'tag late-tag' }, '迟到') : h('span', { class: 'tag ok-tag' }, '正常')), text: (s) => (s.late ? '迟到' : '正常') },
      {
        title: '最近一次 LAST RUN (UTC+8)',
        get: (s) => (s.last_run ? h('span', {}, runLink(s.last_run.name, fmtTime(s.last_run.start_time)), ' ', stateTag(s.last_run), s.last_run.dry_run ? h('span', { class: 'tag' }, '试运行') : null) : h('span', { class: 'muted' }, '从未运行')),
        text: (s) => (s.last_run ? fmtTime(s.last_run.start_time) : ''),
      },
      { title: '最近成功 COMPLETED (UTC+8)', get: (s) => (s.last_success_time ? fmtTime(s.last_success_time) : h('span', { class: 'muted' }, '无')), text: (s) => fmtTime(s.last_success_time) },
      { title: '应到 DUE (UTC+8)', get: (s) => (s.due_time ? h('span', { class: s.late ? 'bad' : '' }, fmtTime(s.due_time)) : ''), text: (s) => fmtTime(s.due_time) },
      { title: '间隔(小时) EVERY COUNT', class: 'num', get: (s) => (Number(s.expected_interval_hours) ? fmtNum(s.expected_interval_hours) : '—'), text: (s) => (Number(s.expected_interval_hours) ? s.expected_interval_hours : '') },
      { title: '批次数 RUNS', class: 'num', get: (s) => h('a', { href: '#/sync', onclick: (e) => { e.preventDefault(); pickSource(s.source); } }, fmtNum(s.runs)), text: (s) => s.runs },
      { title: '企业数 FIRMS', class: 'num', get: (s) => fmtNum(s.firms), text: (s) => s.firms },
      { title: '负责 OWNER', get: (s) => s.owner },
    ];
    const t = table(cols, list, { class: 'sources-table' });
    t.querySelectorAll('tbody tr').forEach((tr, i) => { if (list[i] && list[i].late) tr.classList.add('late'); });
    return h('div', {},
      late ? h('div', { class: 'error late-note', role: 'alert' }, `${late} 个数据源迟到：在约定间隔内没有完成的同步。请联系数据提供方或检查定时任务。`) : null,
      h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, '“企业数”是该来源同步过、目前仍有效的企业。迟到：配置了同步间隔，而在间隔内没有完成的（非试运行、未撤销）批次。'),
        h('span', { class: 'spacer' }), exportButton('数据源状态', cols, () => list)),
      t);
  }

  function pickSource(source) {
    sourceFilter.value = source;
    setRouteQuery({ source });
    drawRuns();
    runsBox.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }

  function drawRuns() {
    const source = sourceFilter.value;
    const cols = [
      { title: '时间 TIME (UTC+8)', get: (r) => runLink(r.name, fmtTime(r.start_time)), text: (r) => fmtTime(r.start_time) },
      { title: '批次 RUN', get: (r) => runLink(r.name), text: (r) => runId(r.name) },
      { title: '来源 SOURCE', get: (r) => r.source },
      { title: '经办 ACTOR', get: (r) => r.actor },
      { title: '模式 MODE', get: (r) => modeLabel(r.mode) },
      { title: '试运行 DRY RUN', get: (r) => (r.dry_run ? h('span', { class: 'tag' }, '试运行') : ''), text: (r) => (r.dry_run ? '是' : '') },
      { title: '状态 STATE', get: stateTag, text: stateLabel },
      { title: '行数 ROWS', class: 'num', get: (r) => fmtNum(r.rows), text: (r) => r.rows },
      { title: '新增 CREATED', class: 'num', get: (r) => fmtNum(r.created), text: (r) => r.created },
      { title: '更新 UPDATED', class: 'num', get: (r) => fmtNum(r.updated), text: (r) => r.updated },
      { title: '未变 UNCHANGED', class: 'num', get: (r) => fmtNum(r.unchanged), text: (r) => r.unchanged },
      {
        title: '失败 FAILED', class: 'num',
        get: (r) => (Number(r.failed) ? h('a', { class: 'bad', href: `#/sync/runs/${encodeURIComponent(runId(r.name))}` }, fmtNum(r.failed)) : '0'),
        text: (r) => r.failed,
      },
      { title: '缺失 MISSING', class: 'num', get: (r) => (r.mode === 'SYNC_MODE_FULL' ? fmtNum(r.missing_from_source) : '—'), text: (r) => (r.mode === 'SYNC_MODE_FULL' ? r.missing_from_source : '') },
      {
        title: '已撤销 REVERTED',
        get: (r) => (r.revert_time ? h('span', { class: 'tag reverted', title: fmtTime(r.revert_time) }, `已撤销 ${fmtTime(r.revert_time).slice(0, 10)}`) : (r.reverting ? h('span', { class: 'tag warn' }, '撤销中') : '')),
        text: (r) => (r.revert_time ? fmtTime(r.revert_time) : (r.reverting ? '撤销中' : '')),
      },
    ];
    fill(runsBox,
      pagedTable({
        title: source ? `同步批次 ${source}` : '同步批次',
        columns: cols,
        pageSize: 20,
        empty: '没有同步批次',
        fetchPage: async (pageToken, pageSize) => {
          const r = await ctx.call('SyncService', 'ListSyncRuns', { source, page_size: pageSize, page_token: pageToken });
          return { rows: r.runs, next: r.next_page_token, total: r.total_size };
        },
      }));
  }

  const uploadCard = section('上传导入 UPLOAD', uploadForm(ctx, async () => { await drawSources(); drawRuns(); }));
  uploadCard.id = 'upload';

  fill(root,
    h('div', { class: 'page-head' }, h('h1', {}, '数据同步'),
      h('p', { class: 'muted' }, '从市场监管登记、统计局、孵化器等系统批量同步企业名录。每次同步记录为一个批次，可查看失败行，可整体撤销。')),
    section('数据源状态 SOURCES', sourcesBox),
    uploadCard,
    section('同步批次 RUNS', h('div', { class: 'toolbar' }, field('来源', sourceFilter), h('span', { class: 'spacer' }),
      h('span', { class: 'muted' }, '最新在前；点击批次查看失败行与撤销。')), runsBox));
  sourceFilter.value = ctx.query.get('source') || '';
  await drawSources();
  drawRuns();
}

// ---------------------------------------------------------------------------
// Upload.

function uploadForm(ctx, afterApply) {
  if (!ctx.who.may_sync) {
    const role = { viewer: '只读', editor: '编辑', sync: '同步', admin: '管理员' }[ctx.who.role] || ctx.who.role;
    return h('div', { class: 'notice', id: 'sync-not-allowed' },
      h('strong', {}, `您的角色（${role}）不能同步数据。`),
      ' 上传导入需要“同步”或“管理员”角色的令牌，请向管理员申请。您仍可查看数据源状态、同步批次及其失败行',
      ctx.who.may_revert ? '，并可撤销批次。' : '。');
  }
  const fileInput = h('input', { type: 'file', id: 'sync-file', accept: '.csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' });
  const sourceInput = h('input', { type: 'text', id: 'sync-source', value: 'web-upload', maxlength: 50, pattern: '[A-Za-z0-9_-]{1,50}', spellcheck: 'false', autocomplete: 'off' });
  const fullInput = h('input', { type: 'checkbox', id: 'sync-full' });
  const dryButton = h('button', { type: 'button', id: 'sync-dry-run' }, '试运行');
  const applyButton = h('button', { type: 'button', id: 'sync-apply', disabled: true, title: '先对同一文件试运行' }, '正式导入');
  const status = h('span', { class: 'upload-status muted', role: 'status' }, '先试运行：检查每一行、统计将新增和更新的企业，不写入任何数据。');
  const result = h('div', { id: 'sync-result', class: 'sync-result', hidden: true });
  let checked = null; // {file, source, full} of the last successful dry run

  const options = () => ({ file: fileInput.files[0], source: sourceInput.value.trim(), full: fullInput.checked });
  const same = (a, b) => a && b && a.file === b.file && a.source === b.source && a.full === b.full;
  function invalidate() {
    if (checked && !same(checked, options())) {
      checked = null;
      applyButton.disabled = true;
      fill(status, '文件或选项已更改：请重新试运行。');
    }
  }
  fileInput.addEventListener('change', invalidate);
  sourceInput.addEventListener('input', invalidate);
  fullInput.addEventListener('change', invalidate);

  function check(o) {
    if (!o.file) return '请选择一个 CSV 或 XLSX 文件。';
    if (!/\.(csv|xlsx|txt)$/i.test(o.file.name)) return '只接受 .csv 或 .xlsx 文件（XLS 请在 Excel 中另存为 XLSX 或 CSV）。';
    if (o.file.size > 64 * 1024 * 1024) return '文件超过 64 MiB：请拆分后分批导入。';
    if (!/^[A-Za-z0-9_-]{1,50}$/.test(o.source)) return '来源名称为 1–50 个英文字母、数字、- 或 _，如 web-upload。';
    return '';
  }

  async function send(dryRun) {
    const o = options();
    const problem = check(o);
    if (problem) {
      fill(status, h('span', { class: 'bad' }, problem));
      return;
    }
    dryButton.disabled = applyButton.disabled = true;
    fill(status, dryRun ? `正在校验 ${o.file.name}…` : `正在导入 ${o.file.name}…`);
    try {
      const answer = await upload(o.file, { source: o.source, dryRun, full: o.full });
      showResult(result, answer, o);
      afterApply().catch(() => {});
      if (dryRun) {
        checked = o;
        const failed = Number(answer.run.failed);
        fill(status, failed
          ? h('span', { class: 'warn' }, `试运行完成：${fmtNum(failed)} 行有问题。正式导入会写入其余的行，有问题的行不会写入；也可先修改文件再试运行。`)
          : h('span', { class: 'ok' }, '试运行完成，没有问题行。确认无误后点“正式导入”。'));
      } else {
        checked = null;
        fill(status, h('span', { class: 'ok' }, '导入完成。'));
        toast(`导入完成：新增 ${fmtNum(answer.run.created)}，更新 ${fmtNum(answer.run.updated)}`, 'info');
      }
    } catch (e) {
      if (dryRun) checked = null;
      result.hidden = false;
      result.removeAttribute('data-dry-run');
      fill(result, errorBox(e), e.reason === 'SOURCE_OF_ANOTHER_CALLER' ? h('p', { class: 'muted' }, '每个来源只能由首次同步它的账号（或管理员）继续同步：请换一个来源名称。') : null);
      fill(status, h('span', { class: 'bad' }, dryRun ? '试运行失败。' : '导入失败。'));
    } finally {
      dryButton.disabled = false;
      applyButton.disabled = !(checked && same(checked, options()));
    }
  }
  dryButton.addEventListener('click', () => send(true));
  applyButton.addEventListener('click', () => send(false));

  return h('div', { class: 'upload' },
    h('div', { class: 'upload-grid' },
      field('文件（CSV / XLSX）', fileInput, 'CSV 可为 UTF-8（含或不含 BOM）或 GBK；XLSX 读取第一个工作表。最大 64 MiB。'),
      field('来源名称', sourceInput, '同一来源的历次同步归为一组，如 market-registry。'),
      h('label', { class: 'check' }, fullInput, h('span', {}, h('strong', {}, '全量模式'),
        h('span', { class: 'muted' }, '：另外报告本来源以前发送、本次文件中没有的企业（只报告，不删除）。不勾选为增量：只新增和更新文件中的企业。')))),
    h('div', { class: 'toolbar upload-actions' }, dryButton, applyButton, status),
    result,
    helpBox(ctx));
}

function showResult(box, answer, o) {
  const run = answer.run;
  box.hidden = false;
  Object.assign(box.dataset, {
    dryRun: String(!!run.dry_run),
    created: String(Number(run.created)),
    updated: String(Number(run.updated)),
    unchanged: String(Number(run.unchanged)),
    failed: String(Number(run.failed)),
    run: run.name,
  });
  const failed = Number(run.failed);
  fill(box,
    h('div', { class: run.dry_run ? 'result-head dry' : 'result-head applied' },
      h('h3', {}, run.dry_run ? '试运行结果（未写入任何数据）' : '导入完成'),
      h('span', { class: 'muted' }, `${o.file.name} · ${answer.encoding} · ${fmtNum(answer.rows)} 行数据 · 来源 ${run.source} · ${modeLabel(run.mode)}`),
      h('span', { class: 'spacer' }),
      runLink(run.name, run.dry_run ? '试运行批次 →' : `查看批次 ${runId(run.name)} →`)),
    run.state !== 'SYNC_RUN_STATE_SUCCEEDED' ? h('div', { class: 'warnbox' }, `批次状态：${stateLabel(run)}。`) : null,
    runKpis(run),
    failed
      ? h('div', {},
        h('h3', {}, `问题行 ${fmtNum(failed)} 行`, h('span', { class: 'muted' }, '（行号为文件中的行号，表头为第 1 行）')),
        failuresTable(run.name, run.dry_run ? '试运行问题行' : '导入失败行'))
      : h('p', { class: 'ok' }, '所有行都通过了校验。'),
    missingBox(run));
}

function helpBox(ctx) {
  const zones = ctx.who.zones || [];
  const template = () => {
    const header = COLUMNS.map(([, names]) => names[0]).join(',');
    const blob = new Blob(['\ufeff', `${header}\r\n`], { type: 'text/csv;charset=utf-8' });
    const a = h('a', { href: URL.createObjectURL(blob), download: '企业同步模板.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  };
  const rows = COLUMNS.map(([f, names, note]) => ({ f, names, note: f === 'promotion_zone' && zones.length ? `${note}：${zones.map((z) => `${z.id}（${z.display_name || z.id}）`).join('、')}` : note }));
  return h('details', { class: 'help' },
    h('summary', {}, '文件格式说明与模板'),
    h('div', { class: 'help-body' },
      h('p', {}, '第一行为表头，之后每行一家企业，以统一社会信用代码为键：系统中没有的企业会新建，已有的企业只更新文件中填写了的字段，',
        h('strong', {}, '空单元格不会清除已有的值'), '。表头可用中文或英文，列的顺序任意，未列出的表头会导致整个文件被拒绝。'),
      table([
        { title: '字段 FIELD', get: (r) => h('strong', {}, r.names[0]) },
        { title: '可用表头 HEADERS', get: (r) => r.names.map((n) => h('code', { class: 'hdr' }, n)) },
        { title: '说明 NOTE', get: (r) => r.note },
      ], rows, { class: 'help-table' }),
      h('p', { class: 'muted' }, '示例行：', h('code', {}, '91350100M000100Y43,西安示例科技有限公司,C3742,610116,2020-05-01,…')),
      h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'secondary', id: 'sync-template', onclick: template }, '下载模板 CSV'),
        h('span', { class: 'muted' }, 'UTF-8（带 BOM）编码，Excel 可直接打开；填写后另存为 CSV 或 XLSX 上传。'))));
}

// ---------------------------------------------------------------------------
// One run.

async function renderRun(root, ctx, id) {
  const name = `syncRuns/${id}`;
  const head = h('div', { class: 'page-head' }, h('a', { href: '#/sync', class: 'back' }, '← 数据同步'), h('h1', {}, `同步批次 ${id}`));
  const body = h('div');
  fill(root, head, body);
  await load(body, async () => {
    const run = await ctx.call('SyncService', 'GetSyncRun', { name });
    return runView(ctx, run);
  });
}

function duration(a, b) {
  if (!a || !b) return '';
  const s = (new Date(b) - new Date(a)) / 1000;
  if (!(s >= 0)) return '';
  return s < 60 ? `${s.toFixed(1)} 秒` : `${Math.floor(s / 60)} 分 ${Math.round(s % 60)} 秒`;
}

function runView(ctx, run) {
  const facts = [
    ['批次', h('code', {}, run.name)],
    ['来源', h('a', { href: `#/sync?source=${encodeURIComponent(run.source)}` }, run.source)],
    ['经办', run.actor],
    ['模式', `${modeLabel(run.mode)}${run.mode === 'SYNC_MODE_FULL' ? '（报告来源缺失的企业）' : '（只新增、更新文件中的企业）'}`],
    ['试运行', run.dry_run ? '是（未写入任何数据）' : '否'],
    ['状态', stateTag(run)],
    ['开始 (UTC+8)', fmtTime(run.start_time)],
    ['结束 (UTC+8)', run.end_time ? `${fmtTime(run.end_time)}（用时 ${duration(run.start_time, run.end_time)}）` : '—'],
    ['撤销', h('span', { class: 'revert-state' })],
  ];
  const revertState = (r) => fill(facts[facts.length - 1][1], r.revert_time
    ? h('span', { class: 'bad' }, `已于 ${fmtTime(r.revert_time)} 撤销`)
    : (r.reverting ? h('span', { class: 'warn' }, '撤销进行中或被中断') : '—'));
  revertState(run);
  const revert = revertBox(ctx, run, (r) => { if (r) revertState(r); });
  return h('div', { class: 'run-view', dataset: { run: run.name } },
    h('div', { class: 'grid run-grid' },
      section('批次信息', h('dl', { class: 'record' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      section('结果', runKpis(run),
        run.state === 'SYNC_RUN_STATE_INTERRUPTED' ? h('div', { class: 'warnbox' }, '同步流中途断开：断开前已写入的部分保持写入。可重新同步同一文件（已写入的行不会重复变化）。') : null)),
    h('section', { class: 'card revert-section' }, revert),
    section(`失败行 FAILURES${Number(run.failed) ? `（${fmtNum(run.failed)}）` : ''}`,
      run.dry_run && Number(run.failed) > 1000 ? h('p', { class: 'muted' }, '试运行只保留前 1000 个失败行。') : null,
      failuresTable(run.name, `同步批次 ${runId(run.name)} 失败行`)),
    missingBox(run) ? section('来源缺失 MISSING', missingBox(run)) : null);
}

function revertBox(ctx, run, onReverted) {
  const wrote = !run.dry_run && Number(run.created) + Number(run.updated) > 0;
  const plain = (el) => h('div', { class: 'revert-card' }, h('h2', {}, '撤销 REVERT'), el);
  if (run.dry_run) return plain(h('p', { class: 'muted' }, '试运行没有写入任何数据，无需撤销。'));
  if (run.revert_time) return plain(h('div', { class: 'notice' }, `本批次已于 ${fmtTime(run.revert_time)} 撤销。`));
  if (run.state === 'SYNC_RUN_STATE_RUNNING') return plain(h('p', { class: 'muted' }, '批次仍在进行，结束后才能撤销。'));
  if (!wrote && !run.reverting) return plain(h('p', { class: 'muted' }, '本批次没有新增或更新任何企业，无需撤销。'));
  if (!ctx.who.may_revert) return plain(h('p', { class: 'muted' }, '您的角色不能撤销同步批次。'));

  const plan = h('div', { id: 'revert-plan', class: 'revert-plan', hidden: true });
  const result = h('div', { id: 'revert-result', class: 'revert-result', hidden: true });
  const preview = h('button', { type: 'button', id: 'revert-preview', class: 'secondary' }, '预览撤销');
  const confirm = h('button', { type: 'button', id: 'revert-confirm', class: 'danger', hidden: true }, '确认撤销');

  preview.addEventListener('click', async () => {
    preview.disabled = true;
    plan.hidden = false;
    fill(plan, h('div', { class: 'loading' }, '正在计算撤销会做什么…'));
    try {
      const r = await ctx.call('SyncService', 'RevertSyncRun', { name: run.name, validate_only: true });
      fill(plan, revertSummary(r, true));
      Object.assign(plan.dataset, { deleted: String(Number(r.deleted)), restored: String(Number(r.restored)), conflicts: String(Number(r.conflict_count)) });
      confirm.hidden = false;
      confirm.disabled = false;
    } catch (e) {
      fill(plan, errorBox(e));
    } finally {
      preview.disabled = false;
    }
  });
  confirm.addEventListener('click', async () => {
    confirm.disabled = preview.disabled = true;
    result.hidden = false;
    fill(result, h('div', { class: 'loading' }, '正在撤销…（大批次可能需要几分钟）'));
    try {
      const r = await ctx.call('SyncService', 'RevertSyncRun', { name: run.name, validate_only: false });
      Object.assign(result.dataset, { deleted: String(Number(r.deleted)), restored: String(Number(r.restored)), conflicts: String(Number(r.conflict_count)) });
      fill(result, h('div', { class: 'notice' }, h('strong', {}, '撤销完成。')), revertSummary(r, false));
      plan.hidden = true;
      confirm.hidden = true;
      preview.hidden = true;
      toast('批次已撤销', 'info');
      onReverted(r.run);
    } catch (e) {
      fill(result, errorBox(e));
      confirm.disabled = preview.disabled = false;
    }
  });

  return h('div', { class: 'revert-card' },
    h('h2', {}, '撤销本批次 REVERT'),
    h('p', { class: 'muted' }, '撤销后：本批次新建的企业被软删除（可恢复），本批次更新的字段恢复为之前的值。此后又被他人修改过的字段或企业保持现状，列为冲突。每个批次只能撤销一次。'),
    run.reverting ? h('div', { class: 'warnbox' }, '上次撤销没有完成（可能被服务器重启打断）：再次执行会从中断处继续。') : null,
    h('div', { class: 'toolbar' }, preview, confirm),
    plan, result);
}

/** The server's words for what kept a created firm (store/sync.rs), in Chinese; anything else as sent. */
function keptText(v) {
  const m = /^kept: (.*?) since the run(?: \(revision (\d+)\))?$/.exec(v || '');
  if (!m) return v;
  const what = {
    changed: '企业信息被修改', 'a designation': '录入了认定', figures: '录入了年度指标',
    'a membership': '加入了联盟', 'a posting': '发布了供需信息',
  }[m[1]] || (m[1].startsWith('linked to ') ? `关联了招商项目 ${m[1].slice(10).replace(/^projects\//, '')}` : m[1]);
  return `保留：批次后${what}${m[2] ? `（版本 ${m[2]}）` : ''}`;
}

function revertSummary(r, preview) {
  const conflicts = r.conflicts || [];
  const cols = [
    { title: '资源 RESOURCE', get: (c) => (c.resource.startsWith('enterprises/') ? firmLink(c.resource) : h('code', {}, c.resource)), text: (c) => codeOf(c.resource) },
    { title: '字段 FIELD', get: (c) => FIELD_LABEL[`enterprise.${c.field}`] || c.field || '（整个企业）' },
    { title: '本次写入 RUN WROTE', get: (c) => (c.run_value === 'created' ? '新建企业' : c.run_value) },
    { title: '现值(保留) NOW (KEPT)', class: 'wrap', get: (c) => h('span', { title: c.current_value }, keptText(c.current_value)), text: (c) => keptText(c.current_value) },
  ];
  const n = (x) => fmtNum(x);
  return h('div', {},
    h('div', { class: 'kpis' },
      h('div', { class: 'kpi' }, h('span', { class: 'n' }, n(r.deleted)), h('span', { class: 'l' }, preview ? '将软删除的企业（本批次新建）' : '已软删除的企业')),
      h('div', { class: 'kpi' }, h('span', { class: 'n' }, n(r.restored)), h('span', { class: 'l' }, preview ? '将恢复字段的企业' : '已恢复字段的企业')),
      h('div', { class: `kpi ${Number(r.conflict_count) ? 'kpi-warn' : ''}` }, h('span', { class: 'n' }, n(r.conflict_count)), h('span', { class: 'l' }, preview ? '冲突（将保持现状）' : '冲突（已保持现状）'))),
    preview ? h('p', {}, Number(r.deleted) + Number(r.restored) === 0
      ? h('span', { class: 'warn' }, '撤销不会改变任何企业（全部为冲突或已恢复），确认后批次仍会标记为已撤销。')
      : '以上为预览，尚未改变任何数据。确认后执行。') : null,
    conflicts.length
      ? h('div', {},
        h('div', { class: 'toolbar' }, h('h3', {}, '冲突 CONFLICTS'), h('span', { class: 'spacer' }),
          Number(r.conflict_count) > conflicts.length ? h('span', { class: 'muted' }, `共 ${n(r.conflict_count)} 个，列出前 ${n(conflicts.length)} 个`) : null,
          exportButton('撤销冲突', cols, () => conflicts)),
        h('div', { class: 'conflicts' }, table(cols, conflicts)))
      : null);
}
