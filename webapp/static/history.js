// History: closed trades, filtered by symbol and period, exported as CSV.
import { download, get } from './api.js';
import { errorText } from './actions.js';
import { h } from './dom.js';
import { money, percent, price, signedMoney, tone, when } from './fmt.js';
import { t } from './i18n.js';

const filters = { symbol: '', from: '', to: '' };

function query() {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  const text = params.toString();
  return text ? '?' + text : '';
}

function form(ctx) {
  const symbol = h('input', { name: 'symbol', placeholder: 'BTC/USDT', value: filters.symbol, maxlength: 26 });
  const from = h('input', { name: 'from', type: 'date', value: filters.from });
  const to = h('input', { name: 'to', type: 'date', value: filters.to });
  const apply = h('button', { class: 'primary apply', type: 'button', text: t('apply') });
  apply.addEventListener('click', () => {
    filters.symbol = symbol.value.trim().toUpperCase();
    filters.from = from.value;
    filters.to = to.value;
    ctx.refresh();
  });
  const csv = h('button', { class: 'export', type: 'button', text: t('export_csv') });
  csv.addEventListener('click', () => download('api/history.csv' + query(), 'atra-history.csv').catch((e) => ctx.toast(errorText(e), 'error')));
  return h(
    'div',
    { class: 'card filters' },
    h('label', {}, t('symbol'), symbol),
    h('label', {}, t('from'), from),
    h('label', {}, t('to'), to),
    h('div', { class: 'actions' }, apply, csv),
  );
}

function table(trades) {
  if (!trades.length) return h('p', { class: 'empty', text: t('no_trades') });
  return h(
    'table',
    { class: 'list trades' },
    h('tr', {}, [t('closed_at'), t('symbol'), t('entry'), t('exit'), t('pnl'), t('reason')].map((c) => h('th', { text: c }))),
    trades.map((tr) =>
      h(
        'tr',
        { 'data-id': tr.id },
        h('td', { text: when(tr.exit_time) }),
        h('td', { text: `${tr.symbol} ${t('side_' + tr.side)}` }),
        h('td', { text: price(tr.entry_price, tr.price_decimals) }),
        h('td', { text: price(tr.exit_price, tr.price_decimals) }),
        h('td', { class: tone(tr.pnl), 'data-value': tr.pnl, text: `${signedMoney(tr.pnl)} (${percent(tr.pnl_pct, true)})` }),
        h('td', { text: t('reason_' + tr.exit_reason) }),
      ),
    ),
    h('tr', { class: 'total' }, h('td', { text: t('total'), colspan: 4 }), h('td', { 'data-value': trades.reduce((a, b) => a + b.pnl, 0), text: signedMoney(trades.reduce((a, b) => a + b.pnl, 0)) }), h('td', { text: money(trades.reduce((a, b) => a + b.fees, 0)) + ' ' + t('fees_short') })),
  );
}

export async function history(ctx) {
  let body;
  try {
    body = table((await get('api/history' + query())).trades);
  } catch (error) {
    body = h('p', { class: 'empty error', text: errorText(error) });
  }
  return [form(ctx), h('section', { class: 'card' }, body)];
}
