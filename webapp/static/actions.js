// Buttons that act: a risky one asks for a second press (as the chat does before closing);
// every failure is shown in the words the server sent.
import { haptic } from './tg.js';
import { t } from './i18n.js';

export function errorText(error) {
  const body = error && error.body;
  if (body && body.message) return body.message;
  if (body && body.error) return t('error_' + body.error);
  return t('error_network');
}

/** Run `action` on press; with `sure`, only on a second press within a few seconds. */
export function actionButton({ label, sure = null, cls = '', id = null, ctx, action }) {
  const button = document.createElement('button');
  button.className = cls;
  button.textContent = label;
  if (id !== null) button.dataset.id = id;
  let armed = null;
  button.addEventListener('click', async () => {
    if (button.disabled) return;
    if (sure && !armed) {
      button.textContent = sure;
      button.classList.add('armed');
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
        button.classList.remove('armed');
      }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    try {
      const message = await action();
      haptic('success');
      ctx.toast(message, 'ok');
      await ctx.refresh();
    } catch (error) {
      haptic('error');
      ctx.toast(errorText(error), 'error');
      button.disabled = false;
      button.textContent = label;
      button.classList.remove('armed');
    }
  });
  return button;
}
