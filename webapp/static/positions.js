// Positions: each open position with its levels, live P&L, a small chart, Close and
// stop to break-even (both through the same service as the chat).
import { act, get } from './api.js';
import { actionButton } from './actions.js';
import { lineChart } from './chart.js';
import { h, row } from './dom.js';
import { amount, money, price, signedMoney, tone, when } from './fmt.js';
import { t } from './i18n.js';

export function levels(item) {
  return [
    { value: item.entry, label: t('entry_short'), kind: 'entry' },
    { value: item.stop, label: t('stop_short'), kind: 'stop' },
    { value: item.tp1, label: 'TP1', kind: 'target' },
    { value: item.tp2, label: 'TP2', kind: 'target' },
  ];
}

export function title(item) {
  return h('h2', {}, item.symbol + ' ', h('span', { class: 'side ' + item.side, text: t('side_' + item.side) }));
}

// The price at or through a resting level: say it is being executed, not a bare loss beyond the stop.
function executing(p) {
  if (!p.executing) return null;
  const target = { tp1: ['TP1', p.tp1], tp2: ['TP2', p.tp2] }[p.executing];
  const text = target
    ? t('executing_target', { target: target[0], level: price(target[1]) })
    : t('executing_stop', { stop: price(p.stop) });
  return h('p', { class: 'executing ' + (target ? 'gain' : 'loss'), text });
}

function card(p, chart, ctx) {
  const close = actionButton({
    label: t('close'),
    sure: t('close_sure'),
    cls: 'danger close',
    id: p.id,
    ctx,
    action: async () => {
      const done = await act(`api/positions/${p.id}/close`);
      return t('closed', { symbol: done.symbol, price: price(done.exit_price), pnl: signedMoney(done.pnl) });
    },
  });
  const breakEven = actionButton({
    label: t('break_even'),
    cls: 'break-even',
    id: p.id,
    ctx,
    action: async () => {
      const done = await act(`api/positions/${p.id}/break-even`);
      return t('break_even_done', { symbol: done.symbol, stop: price(done.stop) });
    },
  });
  return h(
    'article',
    { class: 'card position', 'data-id': p.id },
    title(p),
    h(
      'div',
      { class: 'rows' },
      row(t('quantity'), amount(p.quantity), 'quantity', p.quantity),
      row(t('entry'), price(p.entry), 'entry', p.entry),
      row(t('price'), price(p.price), 'price', p.price),
      row(t('stop'), price(p.stop), 'stop', p.stop),
      row('TP1', price(p.tp1) + (p.tp1_done ? ' ✓' : ''), 'tp1', p.tp1),
      row('TP2', price(p.tp2), 'tp2', p.tp2),
      row(t('pnl_live'), signedMoney(p.unrealized_pnl), 'unrealized_pnl', p.unrealized_pnl, tone(p.unrealized_pnl)),
      row(t('open_risk'), money(p.open_risk), 'open_risk', p.open_risk),
      row(t('opened'), when(p.opened_at), 'opened_at', p.opened_at),
    ),
    executing(p),
    chart ? lineChart({ values: chart.close, levels: levels(p), label: p.symbol, kind: 'price' }) : null,
    h('div', { class: 'actions' }, breakEven, close),
  );
}

export async function positions(ctx) {
  const data = await get('api/positions');
  if (!data.positions.length) return [h('p', { class: 'empty', text: t('no_positions') })];
  return data.positions.map((p) => card(p, data.charts[p.symbol], ctx));
}
