// Keyward recovery and step-up script: the recovery link page (create a new passkey, with an
// optional recovery code; a recovery with a code replaces the codes, and the new ones are
// shown once before the page moves on) and the security page (step-up before a sensitive
// form, the email change included; new recovery codes shown once). It reuses window.keyward
// from keyward.js, loaded before it.
'use strict';

(() => {
  const root = document.getElementById('ceremony');
  const kw = window.keyward;
  if (!root || !kw) return;

  function setupRecoveryLink() {
    const button = document.getElementById('recovery-create');
    const code = document.getElementById('recovery-code');
    if (!button) return;
    button.addEventListener('click', async () => {
      if (button.disabled) return;
      const body = { token: root.dataset.token || '' };
      const value = code ? code.value.trim() : '';
      if (value) body.code = value;
      kw.setBusy(button, true);
      kw.showError('');
      let result;
      try {
        result = await kw.ceremony('create', '/webauthn/recovery/begin', '/webauthn/recovery/finish', body);
      } catch (err) {
        kw.showError(kw.messageFor(err, 'create'));
        kw.setBusy(button, false);
        return;
      }
      const codes = Array.isArray(result.recovery_codes)
        ? result.recovery_codes.filter((c) => typeof c === 'string' && c !== '')
        : [];
      // The old codes died with this recovery: the new ones are the person's only copy,
      // so the page waits for them to say they saved them before moving on.
      if (codes.length === 0) {
        followOrShow(result);
        return;
      }
      // The passkey exists now: nothing is left to press but the codes' button.
      button.remove();
      const field = code ? code.closest('.field') : null;
      if (field) field.remove();
      showRecoveryCodes(codes, () => followOrShow(result));
    });
  }

  function followOrShow(result) {
    try {
      kw.follow(result);
    } catch (err) {
      kw.showError(kw.messageFor(err, 'create'));
    }
  }

  // showRecoveryCodes puts the new codes on the page with a button to go on.
  function showRecoveryCodes(codes, done) {
    const panel = document.createElement('section');
    panel.id = 'recovery-new-codes';
    panel.className = 'panel';
    panel.setAttribute('aria-labelledby', 'recovery-new-codes-title');
    const title = document.createElement('h2');
    title.id = 'recovery-new-codes-title';
    title.tabIndex = -1;
    title.textContent = 'Save your new recovery codes';
    const text = document.createElement('p');
    text.textContent = 'Your new passkey works now, and your old recovery codes no longer do. ' +
      'These new codes are shown only once: write them down or keep them somewhere safe, away from your devices. Each works once.';
    const list = document.createElement('ol');
    list.id = 'new-codes';
    for (const c of codes) {
      const li = document.createElement('li');
      const el = document.createElement('code');
      el.textContent = c;
      li.appendChild(el);
      list.appendChild(li);
    }
    const go = document.createElement('button');
    go.id = 'recovery-codes-saved';
    go.type = 'button';
    go.className = 'button primary';
    go.textContent = 'I saved them, continue';
    go.addEventListener('click', () => {
      kw.setBusy(go, true);
      done();
    });
    panel.append(title, text, list, go);
    root.appendChild(panel);
    title.focus();
  }

  // stepUp runs the step-up ceremony; the session cookie rotates on success.
  async function stepUp() {
    await kw.ceremony('get', '/webauthn/stepup/begin', '/webauthn/stepup/finish', {});
  }

  // submitWithStepUp posts a form's change as JSON; when the server wants a fresh passkey
  // check first, it runs the step-up and posts the same change again.
  async function submitWithStepUp(form, body) {
    const post = () => kw.postJSON(form.getAttribute('action'), body || {});
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

  // setupEmailChange sends the email change through the step-up as the other forms go: a
  // plain form post with a stale passkey check would end on an error page.
  function setupEmailChange() {
    const form = document.getElementById('change-email');
    if (!form) return;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const button = form.querySelector('button');
      const input = form.querySelector('input[name="email"]');
      if (button && button.disabled) return;
      kw.setBusy(button, true);
      kw.showError('');
      try {
        kw.follow(await submitWithStepUp(form, { email: input ? input.value.trim() : '' }));
      } catch (err) {
        kw.showError(kw.messageFor(err, 'get'));
        kw.setBusy(button, false);
      }
    });
  }

  function setupSecurity() {
    setupEmailChange();
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
