// The web workspace's shell: sign-in, navigation, and the hash router that
// hands each route to its page module (pages/*.js, each exporting
// `render(root, ctx)`; ctx = {parts, query, who}).

import { call, setToken, token, whoami, ApiError } from './api.js';
import { h, fill, errorBox } from './ui.js';

/** Routes: first path segment → page module and its navigation label. */
const PAGES = [
  ['', './pages/overview.js', '总览'],
  ['firms', './pages/firms.js', '企业'],
  ['cultivation', './pages/cultivation.js', '梯度培育'],
  ['alliances', './pages/alliances.js', '产业联盟'],
  ['supply', './pages/supply.js', '供需对接'],
  ['projects', './pages/projects.js', '招商项目'],
  ['sync', './pages/sync.js', '数据同步'],
];

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p; // a malformed escape: the page says it finds nothing
    }
  });
  return { parts, query: new URLSearchParams(q || '') };
}

function drawNav(current) {
  fill(nav, PAGES.map(([route, , label]) =>
    h('a', { href: `#/${route}`, class: route === current ? 'active' : null, 'data-route': route || 'overview' }, label)));
}

function drawWho(me) {
  if (!me) {
    fill(who);
    return;
  }
  const role = { viewer: '只读', sync: '同步', editor: '编辑', admin: '管理员' }[me.role] || me.role;
  fill(who,
    h('span', { class: 'who-name', id: 'who-name' }, me.name), h('span', { class: 'badge' }, role),
    me.tokens_required ? h('button', { type: 'button', class: 'link', id: 'sign-out', onclick: () => { setToken(''); route(); } }, '退出登录') : null);
}

/** The sign-in form: a ladder token, kept for this tab only. */
function signIn(problem) {
  drawNav(null);
  drawWho(null);
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'ldr_…', required: true });
  const form = h('form', { class: 'card signin', id: 'signin', onsubmit: async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    route();
  } },
  h('h1', {}, '登录'),
  h('p', {}, '请输入管理员发给您的 ladder 令牌（ladder token mint 生成）。令牌只保存在本标签页中，关闭即失效。'),
  h('label', { class: 'field' }, h('span', { class: 'label' }, '令牌'), input),
  problem ? errorBox(problem) : null,
  h('button', { type: 'submit' }, '登录'));
  fill(main, form);
  input.focus();
}

document.getElementById('menu-toggle').addEventListener('click', () => document.body.classList.toggle('menu-open'));

let generation = 0;

async function route() {
  const mine = ++generation;
  document.body.classList.remove('menu-open');
  let me;
  try {
    me = await whoami();
  } catch (e) {
    if (e instanceof ApiError && e.code === 'UNAUTHENTICATED') {
      if (token()) setToken('');
      signIn(e.reason === 'MISSING_TOKEN' ? null : e);
      return;
    }
    fill(main, errorBox(e));
    return;
  }
  drawWho(me);
  const { parts, query } = parseHash();
  const first = parts[0] || '';
  const page = PAGES.find(([r]) => r === first) || PAGES[0];
  drawNav(page[0]);
  document.title = `${page[2]} · ladder`;
  const root = h('div', { class: 'page', 'data-page': page[0] || 'overview' });
  fill(main, root);
  try {
    const module = await import(page[1]);
    if (mine !== generation) return;
    await module.render(root, { parts: parts.slice(1), query, who: me, call });
  } catch (e) {
    if (mine === generation) fill(root, errorBox(e));
  }
}

window.addEventListener('hashchange', route);
route();
