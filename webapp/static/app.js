// The dashboard page: signs every call with Telegram's initData, shows one page at a time.
import { get } from './api.js';
import { errorText } from './actions.js';
import { admin } from './admin.js';
import { h } from './dom.js';
import { history } from './history.js';
import { home } from './home.js';
import { loadLanguage, t } from './i18n.js';
import { performance } from './performance.js';
import { positions } from './positions.js';
import { signals } from './signals.js';
import { initData, ready, telegramLanguage } from './tg.js';

const PAGES = { home, positions, signals, performance, history, admin };
const LIVE = new Set(['home', 'positions', 'signals']);
const REFRESH_MS = 15000;
const page = document.getElementById('page');
const state = { me: null, current: 'home', timer: null, toastTimer: null, loads: 0 };

function toast(message, kind = 'ok') {
  const box = document.getElementById('toast');
  box.textContent = message;
  box.className = 'toast ' + kind;
  box.hidden = false;
  clearTimeout(state.toastTimer);
  state.toastTimer = setTimeout(() => {
    box.hidden = true;
  }, 6000);
}

const ctx = { toast, refresh: () => show(state.current), get me() { return state.me; } };

function message(text) {
  page.replaceChildren(h('p', { class: 'empty notice', text }));
  document.body.dataset.ready = '1';
}

async function show(name) {
  state.current = name;
  clearInterval(state.timer);
  const load = ++state.loads;
  document.body.dataset.page = name;
  document.body.dataset.ready = '0';
  for (const tab of document.querySelectorAll('#tabs button')) tab.classList.toggle('active', tab.dataset.page === name);
  let nodes;
  try {
    nodes = await PAGES[name](ctx);
  } catch (error) {
    nodes = [h('p', { class: 'empty error', text: errorText(error) })];
  }
  if (load !== state.loads) return; // a newer page was asked for meanwhile
  page.replaceChildren(...nodes);
  document.body.dataset.ready = '1';
  if (LIVE.has(name)) state.timer = setInterval(() => refreshQuietly(name), REFRESH_MS);
}

async function refreshQuietly(name) {
  if (document.hidden || state.current !== name || page.querySelector('.armed, button:disabled')) return;
  try {
    const nodes = await PAGES[name](ctx);
    if (state.current === name) page.replaceChildren(...nodes);
  } catch (error) {
    // the next refresh tries again; the figures on screen stay as they were
  }
}

function tabs() {
  const names = ['home', 'positions', 'signals', 'performance', 'history'].concat(state.me.admin ? ['admin'] : []);
  document.getElementById('tabs').replaceChildren(
    ...names.map((name) => h('button', { type: 'button', 'data-page': name, text: t('tab_' + name), onclick: () => show(name) })),
  );
}

async function start() {
  ready();
  if (!initData()) {
    await loadLanguage(telegramLanguage() || navigator.language);
    return message(t('open_in_telegram'));
  }
  try {
    state.me = await get('api/me');
  } catch (error) {
    await loadLanguage(telegramLanguage());
    return message(errorText(error));
  }
  await loadLanguage(state.me.language);
  document.getElementById('who').textContent = `${state.me.first_name} · ${t('mode_' + state.me.mode)}`;
  if (!state.me.registered && !state.me.admin) return message(t('not_registered'));
  tabs();
  return show(state.me.registered ? 'home' : 'admin');
}

start();
