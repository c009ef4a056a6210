// Performance: the user's own record after fees; the per-playbook track record when the
// engine records playbooks (the API already answers the list, empty until then).
import { get } from './api.js';
import { figure, h, section } from './dom.js';
import { money, number, percent, signedMoney, tone } from './fmt.js';
import { t } from './i18n.js';

function ratio(value) {
  return value === null || value === undefined ? '—' : number(value, 2);
}

function playbookRow(p) {
  return h(
    'tr',
    { 'data-name': p.name },
    h('td', { text: p.name }),
    h('td', { text: String(p.n_trades) }),
    h('td', { text: percent(p.win_rate) }),
    h('td', { text: ratio(p.avg_r) }),
    h('td', { text: signedMoney(p.expectancy) }),
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
    ? h(
        'table',
        { class: 'list playbooks' },
        h('tr', {}, [t('playbook'), t('trades'), t('win_rate'), t('avg_r'), t('expectancy')].map((c) => h('th', { text: c }))),
        data.playbooks.map(playbookRow),
      )
    : h('p', { class: 'empty', text: t('no_playbooks') });
  return [section(t('your_record'), own), section(t('playbooks'), playbooks)];
}
