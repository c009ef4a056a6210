// Home: the account at a glance and the equity curve with its drawdown.
import { get } from './api.js';
import { lineChart } from './chart.js';
import { figure, h, section } from './dom.js';
import { money, percent, signedMoney, tone } from './fmt.js';
import { t } from './i18n.js';

export async function home(ctx) {
  const s = await get('api/summary');
  const risk = s.open_risk_pct === null ? money(s.open_risk) : `${money(s.open_risk)} (${percent(s.open_risk_pct)})`;
  const figures = h(
    'div',
    { class: 'figures' },
    figure('balance', t('balance'), money(s.balance), s.balance),
    figure('equity', t('equity'), money(s.equity), s.equity),
    figure('unrealized_pnl', t('unrealized'), signedMoney(s.unrealized_pnl), s.unrealized_pnl, tone(s.unrealized_pnl)),
    figure('open_risk', t('open_risk'), risk, s.open_risk),
    figure('pnl_today', t('pnl_today'), signedMoney(s.pnl_today), s.pnl_today, tone(s.pnl_today)),
    figure('pnl_30d', t('pnl_30d'), signedMoney(s.pnl_30d), s.pnl_30d, tone(s.pnl_30d)),
    figure('max_drawdown_pct', t('max_drawdown'), percent(s.max_drawdown_pct), s.max_drawdown_pct),
    figure('open_positions', t('open_positions'), String(s.open_positions), s.open_positions),
  );
  const times = s.curve.map((p) => Date.parse(p.t));
  const equity = lineChart({
    values: s.curve.map((p) => p.equity), times, step: true, label: t('equity_curve'), kind: 'equity', format: money,
  });
  const drawdown = lineChart({
    values: s.curve.map((p) => -p.drawdown_pct), times, step: true, area: true, height: 64,
    label: t('drawdown'), kind: 'drawdown', format: (v) => percent(v),
  });
  return [
    section(t('account', { quote: ctx.me.quote }), figures, h('p', { class: 'hint', text: t('pnl_note') })),
    section(
      t('equity_curve'),
      equity,
      h('p', { class: 'hint', text: t('drawdown') }),
      drawdown,
      h('p', { class: 'hint', text: t('curve_note') }),
    ),
  ];
}
