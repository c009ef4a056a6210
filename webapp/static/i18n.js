// The page's words in English and Russian (static/locales/*.json).
let strings = {};
export let language = 'en';

export async function loadLanguage(code) {
  language = String(code || '').toLowerCase().startsWith('ru') ? 'ru' : 'en';
  const response = await fetch(`static/locales/${language}.json`, { cache: 'no-cache' });
  strings = await response.json();
  document.documentElement.lang = language;
}

export function t(key, params = {}) {
  const template = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : key;
  return template.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : ''));
}
