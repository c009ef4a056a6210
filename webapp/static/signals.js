// Signals: the active ones with Confirm and Skip, then the recent ones with their outcome.
import { act, get } from './api.js';
import { actionButton } from './actions.js';
import { lineChart } from './chart.js';
import { h, row, section } from './dom.js';
import { amount, price, signedMoney, tone, when } from './fmt.js';
import { t } from './i18n.js';
import { levels, title } from './positions.js';

function activeCard(s, chart, ctx) {
  const buttons = [];
  if (s.state === 'pending') {
    buttons.push(
      actionButton({
        label: t('confirm'), cls: 'primary confirm', id: s.id, ctx,
        action: async () => {
          const done = await act(`api/signals/${s.id}/confirm`);
          return t('filled', { symbol: done.symbol, quantity: amount(done.quantity), price: price(done.price) });
        },
      }),
      actionButton({
        label: t('skip'), cls: 'skip', id: s.id, ctx,
        action: async () => {
          await act(`api/signals/${s.id}/skip`);
          return t('skipped');
        },
      }),
    );
  }
  return h(
    'article',
    { class: 'card signal', 'data-id': s.id, 'data-state': s.state },
    title(s),
    h(
      'div',
      { class: 'rows' },
      row(t('entry'), price(s.entry, s.price_decimals), 'entry', s.entry),
      row(t('stop'), price(s.stop, s.price_decimals), 'stop', s.stop),
      row('TP1', price(s.tp1, s.price_decimals), 'tp1', s.tp1),
      row('TP2', price(s.tp2, s.price_decimals), 'tp2', s.tp2),
      row(t('quantity'), amount(s.quantity, s.amount_decimals), 'quantity', s.quantity),
      row(t('state'), t('state_' + s.state), 'state', s.state),
      row(t('expires'), when(s.expires_at), 'expires_at', s.expires_at),
    ),
    chart ? lineChart({ values: chart.close, levels: levels(s), label: s.symbol, kind: 'price' }) : null,
    buttons.length ? h('div', { class: 'actions' }, buttons) : null,
  );
}

function outcome(item) {
  if (!item.position) return '—';
  if (item.position.status === 'open') return t('outcome_open');
  return signedMoney(item.position.pnl);
}

function recentTable(recent) {
  if (!recent.length) return h('p', { class: 'empty', text: t('no_recent') });
  return h(
    'table',
    { class: 'list recent' },
    h('tr', {}, [t('when'), t('symbol'), t('state'), t('outcome')].map((c) => h('th', { text: c }))),
    recent.map((r) =>
      h(
        'tr',
        { 'data-id': r.id },
        h('td', { text: when(r.created_at) }),
        h('td', { text: `${r.symbol} ${t('side_' + r.side)}` }),
        h('td', { text: t('state_' + r.state) }),
        h('td', { class: r.position && r.position.status === 'closed' ? tone(r.position.pnl) : '', text: outcome(r) }),
      ),
    ),
  );
}

export async function signals(ctx) {
  const data = await get('api/signals');
  const active = data.active.length
    ? data.active.map((s) => activeCard(s, data.charts[s.symbol], ctx))
    : [h('p', { class: 'empty', text: t('no_signals') })];
  return [h('h2', { class: 'heading', text: t('active_signals') }), ...active, section(t('recent_signals'), recentTable(data.recent))];
}
