// Numbers and times as the chat writes them (bot/i18n/format.py): English 1,234.56 and
// 2024-01-31 13:00; Russian 1 234,56 (a no-break space between groups, a decimal comma) and
// 31.01.2024 13:00. The minus stays ASCII '-'; '%' follows the number without a space.
import { language } from './i18n.js';

const NBSP = '\u00a0';

function localise(text) {
  const sign = text[0] === '-' || text[0] === '+' ? text[0] : '';
  const [whole, fraction] = text.slice(sign.length).split('.');
  const group = language === 'ru' ? NBSP : ',';
  const mark = language === 'ru' ? ',' : '.';
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return sign + grouped + (fraction !== undefined ? mark + fraction : '');
}

function finite(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

export function number(value, decimals = 2, signed = false) {
  if (!finite(value)) return '—';
  return localise((signed && value >= 0 ? '+' : '') + value.toFixed(decimals));
}

export function money(value) {
  return number(value, 2);
}

export function signedMoney(value) {
  return finite(value) ? (value > 0 ? '+' : '') + money(value) : '—';
}

/** Up to 6 significant digits, trailing zeros dropped, never an exponent. */
function compact(value) {
  if (value === 0) return '0';
  const rounded = Number(value.toPrecision(6));
  const digits = Math.max(0, 5 - Math.floor(Math.log10(Math.abs(rounded))));
  const text = rounded.toFixed(Math.min(digits, 20));
  return localise(text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text);
}

/** A price with its market's tick decimals (`decimals`, from the API) when known. */
export function price(value, decimals = null) {
  if (!finite(value)) return '—';
  if (Number.isInteger(decimals)) return number(value, decimals);
  return Math.abs(value) >= 1000 ? number(value, 2) : compact(value);
}

/** A quantity cut down to its market's lot (`decimals`, from the API) when known. */
export function amount(value, decimals = null) {
  if (!finite(value)) return '—';
  if (Number.isInteger(decimals)) {
    const scale = 10 ** decimals;
    return localise((Math.trunc(value * scale + 1e-9) / scale).toFixed(decimals));
  }
  return localise(value.toFixed(8).replace(/0+$/, '').replace(/\.$/, '') || '0');
}

export function percent(value, signed = false) {
  return finite(value) ? number(value, 2, signed) + '%' : '—';
}

export function seconds(value) {
  return finite(value) ? number(value, 0) + (language === 'ru' ? NBSP + 'с' : 's') : '—';
}

/** An ISO time (UTC) as 2024-03-01 12:00 or 01.03.2024 12:00. */
export function when(iso) {
  if (!iso) return '—';
  const [year, month, day] = [iso.slice(0, 4), iso.slice(5, 7), iso.slice(8, 10)];
  const time = iso.slice(11, 16);
  return language === 'ru' ? `${day}.${month}.${year} ${time}` : `${year}-${month}-${day} ${time}`;
}

export function tone(value) {
  if (!finite(value) || value === 0) return '';
  return value > 0 ? 'gain' : 'loss';
}
