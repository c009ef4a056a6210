// Performance: the user's own record after fees, and the public track record per playbook
// (every published signal followed by a shadow position, as /performance shows it).
import { get } from './api.js';
import { figure, h, section } from './dom.js';
import { money, number, percent, signedMoney, tone } from './fmt.js';
import { t } from './i18n.js';

function ratio(value) {
  return value === null || value === undefined ? '—' : number(value, 2);
}

function signedR(value) {
  return value === null || value === undefined ? '—' : number(value, 2, true) + ' R';
}

function expectancy(record) {
  if (record.expectancy_pct === null) return '—';
  const text = percent(record.expectancy_pct, true);
  if (!record.expectancy_interval) return text;
  const [low, high] = record.expectancy_interval;
  return `${text} [${percent(low, true)}; ${percent(high, true)}]`;
}

function windowRows(record) {
  return [
    ['signals', String(record.signals)],
    ['closed', String(record.closed)],
    ['open_now', String(record.open_now)],
    ['win_pct', record.win_pct === null ? '—' : percent(record.win_pct)],
    ['avg_r', signedR(record.avg_r)],
    ['expectancy', expectancy(record)],
    ['best_r', signedR(record.best_r)],
    ['worst_r', signedR(record.worst_r)],
  ];
}

/** One playbook: the last `days` days beside all time, one figure a row. */
function playbookCard(p, days) {
  const recent = windowRows(p.recent);
  const allTime = windowRows(p.all_time);
  const name = p.name === 'admin' ? t('playbook_admin') : p.name;
  return h(
    'article',
    { class: 'card playbook', 'data-name': p.name },
    h('h2', {}, name, p.on_probation ? h('span', { class: 'probation', text: ' ⚠️ ' + t('on_probation') }) : null),
    h(
      'table',
      { class: 'list record' },
      h('tr', {}, h('th', {}), h('th', { text: t('last_days', { days }) }), h('th', { text: t('all_time') })),
      recent.map(([key, text], i) =>
        h('tr', { 'data-field': key }, h('th', { text: t('record_' + key) }), h('td', { class: 'recent', text }), h('td', { class: 'all-time', text: allTime[i][1] })),
      ),
    ),
  );
}

export async function performance() {
  const data = await get('api/performance');
  const m = data.own;
  const own = h(
    'div',
    { class: 'figures' },
    figure('n_trades', t('trades'), String(m.n_trades), m.n_trades),
    figure('win_rate', t('win_rate'), percent(m.win_rate), m.win_rate),
    figure('realized_pnl', t('realized'), signedMoney(m.realized_pnl), m.realized_pnl, tone(m.realized_pnl)),
    figure('fees', t('fees'), money(m.fees), m.fees),
    figure('avg_win', t('avg_win'), money(m.avg_win), m.avg_win),
    figure('avg_loss', t('avg_loss'), money(m.avg_loss), m.avg_loss),
    figure('profit_factor', t('profit_factor'), ratio(m.profit_factor), m.profit_factor),
    figure('expectancy', t('expectancy'), signedMoney(m.expectancy), m.expectancy, tone(m.expectancy)),
    figure('max_drawdown_pct', t('max_drawdown'), percent(m.max_drawdown_pct), m.max_drawdown_pct),
    figure('total_return_pct', t('return'), percent(m.total_return_pct, true), m.total_return_pct),
  );
  const playbooks = data.playbooks.length
    ? data.playbooks.map((p) => playbookCard(p, data.window_days))
    : [h('p', { class: 'empty', text: t('no_playbooks') })];
  return [section(t('your_record'), own), h('h2', { class: 'heading', text: t('playbooks') }), ...playbooks];
}
