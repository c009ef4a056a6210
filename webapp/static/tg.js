// Telegram's side of the Mini App: initData and the theme. From telegram-web-app.js when it
// loaded; else from the launch parameters Telegram puts in the URL fragment
// (#tgWebAppData=...&tgWebAppThemeParams=...), so the page works without the script too.

const launch = new URLSearchParams(location.hash.slice(1));
const COLOR = /^#[0-9a-fA-F]{6}$/;
const THEME_VARS = {
  bg_color: '--bg',
  text_color: '--text',
  hint_color: '--hint',
  link_color: '--link',
  button_color: '--button',
  button_text_color: '--button-text',
  secondary_bg_color: '--card',
  destructive_text_color: '--danger',
};

export function webApp() {
  return (window.Telegram && window.Telegram.WebApp) || null;
}

export function initData() {
  const app = webApp();
  return (app && app.initData) || launch.get('tgWebAppData') || '';
}

/** The Telegram user's own language code, before the server says which one it keeps. */
export function telegramLanguage() {
  try {
    const user = JSON.parse(new URLSearchParams(initData()).get('user') || '{}');
    return String(user.language_code || '');
  } catch (e) {
    return '';
  }
}

function themeParams() {
  const app = webApp();
  if (app && app.themeParams && Object.keys(app.themeParams).length) return app.themeParams;
  try {
    return JSON.parse(launch.get('tgWebAppThemeParams') || '{}') || {};
  } catch (e) {
    return {};
  }
}

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function colorScheme(params) {
  const app = webApp();
  if (app && app.colorScheme && app.initData) return app.colorScheme;
  if (COLOR.test(params.bg_color || '')) return luminance(params.bg_color) < 0.5 ? 'dark' : 'light';
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** Telegram's colours as CSS variables, and the dark or light scheme. */
export function applyTheme() {
  const params = themeParams();
  const root = document.documentElement;
  root.dataset.scheme = colorScheme(params);
  for (const [name, cssVar] of Object.entries(THEME_VARS)) {
    const value = params[name];
    if (typeof value === 'string' && COLOR.test(value)) root.style.setProperty(cssVar, value);
  }
}

export function ready() {
  applyTheme();
  const app = webApp();
  if (!app) return;
  app.ready();
  app.expand();
  app.onEvent('themeChanged', applyTheme);
}

export function haptic(kind) {
  const app = webApp();
  if (app && app.HapticFeedback && app.initData) app.HapticFeedback.notificationOccurred(kind);
}
