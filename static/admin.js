// Keyward console script: the step-up before console changes. "Confirm it's you" runs the
// step-up ceremony of the account page (window.keyward from keyward.js, loaded before it).
// The step-up rotates the session and with it the CSRF token, so the script reads the new
// token from a fresh console page before it lets the administrator repeat the refused change.
'use strict';

(() => {
  const root = document.getElementById('ceremony');
  const kw = window.keyward;
  if (!root || !kw || root.dataset.mode !== 'admin-stepup') return;
  const button = document.getElementById('step-up-confirm');
  const form = document.getElementById('step-up-resubmit');
  if (!button) return;

  async function freshToken() {
    const res = await fetch('/admin/reauth', { credentials: 'same-origin', cache: 'no-store' });
    const html = await res.text();
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const meta = doc.querySelector('meta[name="csrf-token"]');
    const token = meta ? meta.getAttribute('content') : '';
    if (!res.ok || !token) throw new Error('no CSRF token');
    return token;
  }

  button.addEventListener('click', async () => {
    if (button.disabled) return;
    kw.setBusy(button, true);
    kw.showError('');
    try {
      await kw.ceremony('get', '/webauthn/stepup/begin', '/webauthn/stepup/finish', {});
    } catch (err) {
      kw.setBusy(button, false);
      kw.showError(kw.messageFor(err, 'get'));
      return;
    }
    let token = '';
    try {
      token = await freshToken();
    } catch (_) {
      // The step-up counted; only the repeat needs the new token: a reload gets it.
      kw.setBusy(button, false);
      kw.showError('Confirmed. Reload the console page to make your change.');
      return;
    }
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) meta.setAttribute('content', token);
    button.hidden = true;
    const done = document.getElementById('step-up-done');
    if (done) done.hidden = false;
    if (!form) return;
    form.elements.namedItem('csrf_token').value = token;
    form.hidden = false;
    const repeat = document.getElementById('step-up-repeat');
    if (repeat) {
      repeat.disabled = false;
      repeat.focus();
    }
  });
})();
