// Keyward recovery and step-up script: the recovery link page (create a new passkey, with an
// optional recovery code) and the security page (step-up before a sensitive form, new
// recovery codes shown once). It reuses window.keyward from keyward.js, loaded before it.
'use strict';

(() => {
  const root = document.getElementById('ceremony');
  const kw = window.keyward;
  if (!root || !kw) return;

  function setupRecoveryLink() {
    const button = document.getElementById('recovery-create');
    const code = document.getElementById('recovery-code');
    if (!button) return;
    button.addEventListener('click', () => {
      const body = { token: root.dataset.token || '' };
      const value = code ? code.value.trim() : '';
      if (value) body.code = value;
      kw.run(button, 'create', () =>
        kw.ceremony('create', '/webauthn/recovery/begin', '/webauthn/recovery/finish', body));
    });
  }

  // stepUp runs the step-up ceremony; the session cookie rotates on success.
  async function stepUp() {
    await kw.ceremony('get', '/webauthn/stepup/begin', '/webauthn/stepup/finish', {});
  }

  async function submitWithStepUp(form) {
    const post = () => kw.postJSON(form.getAttribute('action'), {});
    try {
      return await post();
    } catch (err) {
      if (!err || err.code !== 'step_up_required') throw err;
    }
    await stepUp();
    // The CSRF token is bound to the session id, which step-up rotated: reload it.
    const res = await fetch('/account/security', { credentials: 'same-origin', cache: 'no-store' });
    const html = await res.text();
    const m = html.match(/<meta name="csrf-token" content="([^"]*)"/);
    const meta = document.querySelector('meta[name="csrf-token"]');
    if (m && meta) meta.setAttribute('content', m[1]);
    return post();
  }

  function showCodes(codes) {
    const list = document.getElementById('new-codes');
    if (!list) return;
    list.textContent = '';
    for (const c of codes) {
      const li = document.createElement('li');
      const el = document.createElement('code');
      el.textContent = c;
      li.appendChild(el);
      list.appendChild(li);
    }
    list.hidden = false;
  }

  function setupSecurity() {
    for (const form of document.querySelectorAll('form[data-stepup="true"]')) {
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const button = form.querySelector('button');
        kw.setBusy(button, true);
        kw.showError('');
        try {
          const result = await submitWithStepUp(form);
          if (form.dataset.codes === 'true' && Array.isArray(result.codes)) {
            showCodes(result.codes);
          } else {
            window.location.reload();
          }
        } catch (err) {
          kw.showError(kw.messageFor(err, 'get'));
        } finally {
          kw.setBusy(button, false);
        }
      });
    }
  }

  switch (root.dataset.mode) {
    case 'recovery-link':
      setupRecoveryLink();
      break;
    case 'account-security':
      setupSecurity();
      break;
    default:
      break;
  }
})();
