// Numbers and times as the chat shows them: 10 000.00, 63 250.50, 1.23456, 2024-03-01 12:00.

function group(text) {
  const negative = text.startsWith('-');
  const [whole, fraction] = (negative ? text.slice(1) : text).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
  return (negative ? '-' : '') + grouped + (fraction !== undefined ? '.' + fraction : '');
}

function finite(value) {
  return typeof value === 'number' && Number.isFinite(value);
}

export function money(value) {
  return finite(value) ? group(value.toFixed(2)) : '—';
}

export function signedMoney(value) {
  return finite(value) ? (value > 0 ? '+' : '') + money(value) : '—';
}

export function price(value) {
  if (!finite(value)) return '—';
  if (Math.abs(value) >= 1000) return group(value.toFixed(2));
  if (value === 0) return '0';
  const rounded = Number(value.toPrecision(6));
  const digits = Math.max(0, 5 - Math.floor(Math.log10(Math.abs(rounded))));
  const text = rounded.toFixed(Math.min(digits, 20));
  return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
}

export function amount(value) {
  if (!finite(value)) return '—';
  const text = value.toFixed(8).replace(/0+$/, '').replace(/\.$/, '');
  return text || '0';
}

export function percent(value, signed = false) {
  if (!finite(value)) return '—';
  return (signed && value >= 0 ? '+' : '') + value.toFixed(2) + '%';
}

export function when(iso) {
  if (!iso) return '—';
  return iso.slice(0, 10) + ' ' + iso.slice(11, 16);
}

export function tone(value) {
  if (!finite(value) || value === 0) return '';
  return value > 0 ? 'gain' : 'loss';
}
