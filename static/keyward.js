// Keyward ceremony script: runs the passkey ceremonies of the hosted pages.
//
// Plain ES2020, no framework, no build step, loaded with `defer` and the CSP
// nonce. It acts on <main id="ceremony" data-mode="...">: "login", "signup"
// and "account" (add a passkey, the management forms, the step-up prompt and
// the WebAuthn Signal API) are wired here; other pages reuse ceremony(), which
// is also exposed read-only as window.keyward.
//
// Wire contract (see static/doc.go): JSON POSTs with X-CSRF-Token; begin
// answers {"publicKey": ...}; finish takes go-webauthn's credential JSON
// (base64url without padding) and answers {"redirect_to": url}; failures
// answer {"error", "error_description"}, and the description is shown.
'use strict';

(() => {
  const root = document.getElementById('ceremony');

  const MESSAGES = {
    getCancelled: 'Sign-in was cancelled or timed out. Try again.',
    createCancelled: 'Creating the passkey was cancelled or timed out. Try again.',
    alreadyRegistered: 'This passkey is already registered.',
    unsupported: 'This browser cannot use passkeys. Try an up-to-date browser, or use your phone.',
    network: 'Keyward could not be reached. Check your connection and try again.',
    generic: 'Something went wrong. Try again.',
    badAddress: "This page's address does not match this service, so your browser refused to use a passkey.",
    emailRequired: 'Enter your email address.',
  };

  // CeremonyError carries a message that is safe and useful to show as is.
  class CeremonyError extends Error {
    constructor(code, message) {
      super(message);
      this.name = 'CeremonyError';
      this.code = code;
    }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') || '' : '';
  }

  // withInteraction keeps the pending OIDC interaction on every call, so the
  // server can resume the app's request after the ceremony.
  function withInteraction(url, interaction) {
    if (!interaction) return url;
    const sep = url.includes('?') ? '&' : '?';
    return url + sep + 'interaction=' + encodeURIComponent(interaction);
  }

  async function postJSON(url, body, signal) {
    let res;
    try {
      res = await fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          'X-CSRF-Token': csrfToken(),
        },
        body: JSON.stringify(body === undefined ? {} : body),
        signal,
      });
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new CeremonyError('network_error', MESSAGES.network);
    }
    let data = null;
    try {
      data = await res.json();
    } catch (_) {
      // A body that is not JSON (a proxy's error page) is reported below.
    }
    if (!res.ok) {
      const description = data && typeof data.error_description === 'string' ? data.error_description : '';
      const code = data && typeof data.error === 'string' ? data.error : 'http_' + res.status;
      throw new CeremonyError(code, description || MESSAGES.generic);
    }
    if (data === null || typeof data !== 'object') {
      throw new CeremonyError('bad_response', MESSAGES.generic);
    }
    return data;
  }

  // --- base64url, for browsers without the JSON helpers -------------------

  function fromB64url(s) {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    const bytes = ArrayBuffer.isView(buf)
      ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
      : new Uint8Array(buf);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function decodeDescriptors(list) {
    return Array.isArray(list) ? list.map((c) => ({ ...c, id: fromB64url(c.id) })) : undefined;
  }

  function creationOptions(json) {
    if (typeof PublicKeyCredential.parseCreationOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    const opts = { ...json, challenge: fromB64url(json.challenge), user: { ...json.user, id: fromB64url(json.user.id) } };
    const exclude = decodeDescriptors(json.excludeCredentials);
    if (exclude) opts.excludeCredentials = exclude;
    return opts;
  }

  function requestOptions(json) {
    if (typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function') {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    const opts = { ...json, challenge: fromB64url(json.challenge) };
    const allow = decodeDescriptors(json.allowCredentials);
    if (allow) opts.allowCredentials = allow;
    return opts;
  }

  // credentialJSON is the body go-webauthn's ParseCredentialCreationResponseBody
  // and ParseCredentialRequestResponseBody decode: base64url without padding.
  function credentialJSON(cred) {
    if (typeof cred.toJSON === 'function') {
      try {
        return cred.toJSON();
      } catch (_) {
        // Some builds throw on extension outputs they cannot serialise; the
        // hand encoding below covers every field the server reads.
      }
    }
    const r = cred.response;
    const out = {
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: plainExtensions(cred),
      response: { clientDataJSON: toB64url(r.clientDataJSON) },
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (typeof r.getTransports === 'function') out.response.transports = r.getTransports();
      if (typeof r.getAuthenticatorData === 'function') out.response.authenticatorData = toB64url(r.getAuthenticatorData());
      if (typeof r.getPublicKey === 'function') {
        const key = r.getPublicKey();
        if (key) out.response.publicKey = toB64url(key);
      }
      if (typeof r.getPublicKeyAlgorithm === 'function') out.response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle && r.userHandle.byteLength > 0) out.response.userHandle = toB64url(r.userHandle);
    }
    return out;
  }

  // plainExtensions keeps only the JSON-safe extension outputs (credProps and
  // the like); binary outputs are not used by the server.
  function plainExtensions(cred) {
    try {
      const ext = cred.getClientExtensionResults ? cred.getClientExtensionResults() : {};
      return JSON.parse(JSON.stringify(ext || {}));
    } catch (_) {
      return {};
    }
  }

  // ceremony runs one WebAuthn ceremony against a begin/finish endpoint pair
  // and resolves with the finish response. kind is 'create' or 'get'.
  // opts.signal aborts it; opts.mediation ('conditional') is passed to get();
  // opts.onSuccess(credential) runs once the server accepted the credential.
  async function ceremony(kind, beginURL, finishURL, body, opts = {}) {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      throw new CeremonyError('unsupported', MESSAGES.unsupported);
    }
    const begin = await postJSON(beginURL, body, opts.signal);
    if (!begin.publicKey || typeof begin.publicKey.challenge !== 'string') {
      throw new CeremonyError('bad_response', MESSAGES.generic);
    }
    let cred;
    if (kind === 'create') {
      cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey), signal: opts.signal });
    } else {
      const req = { publicKey: requestOptions(begin.publicKey), signal: opts.signal };
      if (opts.mediation) req.mediation = opts.mediation;
      cred = await navigator.credentials.get(req);
    }
    if (!cred) {
      const err = new Error('no credential');
      err.name = 'NotAllowedError';
      throw err;
    }
    const result = await postJSON(finishURL, credentialJSON(cred));
    if (typeof opts.onSuccess === 'function') opts.onSuccess(cred);
    return result;
  }

  // follow navigates to the server's next step; only http(s) targets, so a
  // bad response can never run script through a javascript: URL.
  function follow(result) {
    const to = result && typeof result.redirect_to === 'string' ? result.redirect_to : '';
    let url;
    try {
      url = new URL(to, window.location.href);
    } catch (_) {
      url = null;
    }
    if (!to || !url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      throw new CeremonyError('bad_response', MESSAGES.generic);
    }
    window.location.assign(url.href);
  }

  function messageFor(err, kind) {
    if (err instanceof CeremonyError) return err.message;
    switch (err && err.name) {
      case 'NotAllowedError':
        return kind === 'create' ? MESSAGES.createCancelled : MESSAGES.getCancelled;
      case 'InvalidStateError':
        return kind === 'create' ? MESSAGES.alreadyRegistered : MESSAGES.generic;
      case 'AbortError':
        return kind === 'create' ? MESSAGES.createCancelled : MESSAGES.getCancelled;
      case 'NotSupportedError':
        return MESSAGES.unsupported;
      case 'SecurityError':
        return MESSAGES.badAddress;
      default:
        return MESSAGES.generic;
    }
  }

  function showError(text) {
    const box = document.getElementById('error');
    if (box) box.textContent = text || '';
  }

  function setBusy(button, busy) {
    if (!button) return;
    button.disabled = busy;
    button.setAttribute('aria-busy', busy ? 'true' : 'false');
  }

  // run drives a button-started ceremony: one at a time, errors shown in
  // #error, the button kept disabled while the page navigates away.
  async function run(button, kind, start) {
    if (button.disabled) return;
    setBusy(button, true);
    showError('');
    try {
      follow(await start());
    } catch (err) {
      showError(messageFor(err, kind));
      setBusy(button, false);
    }
  }

  function endpoints(kind) {
    const interaction = root ? root.dataset.interaction || '' : '';
    return {
      begin: withInteraction('/webauthn/' + kind + '/begin', interaction),
      finish: withInteraction('/webauthn/' + kind + '/finish', interaction),
    };
  }

  function setupLogin() {
    const button = document.getElementById('passkey-login');
    const email = document.getElementById('email');
    if (!button) return;
    const urls = endpoints('login');
    let conditional = null;

    button.addEventListener('click', () => {
      // Only one WebAuthn request may be pending: drop the autofill one first.
      if (conditional) {
        conditional.abort();
        conditional = null;
      }
      const body = {};
      const value = email ? email.value.trim() : '';
      if (value) body.email = value;
      run(button, 'get', () => ceremony('get', urls.begin, urls.finish, body, { onSuccess: noteCrossDevice }));
    });

    if (email) {
      email.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.isComposing) {
          e.preventDefault();
          button.click();
        }
      });
    }

    if (!window.PublicKeyCredential) {
      showError(MESSAGES.unsupported);
      return;
    }
    startConditional();

    async function startConditional() {
      const available = PublicKeyCredential.isConditionalMediationAvailable;
      if (typeof available !== 'function') return;
      let ok = false;
      try {
        ok = await available.call(PublicKeyCredential);
      } catch (_) {
        return;
      }
      if (!ok || button.disabled) return;
      const ctrl = new AbortController();
      conditional = ctrl;
      try {
        const result = await ceremony('get', urls.begin, urls.finish, { conditional: true }, {
          mediation: 'conditional',
          signal: ctrl.signal,
          onSuccess: noteCrossDevice,
        });
        if (ctrl.signal.aborted) return;
        setBusy(button, true);
        follow(result);
      } catch (err) {
        // Aborted because the person pressed the button: that ceremony
        // reports its own outcome.
        if (ctrl.signal.aborted || (err && err.name === 'AbortError')) return;
        // The background autofill request failing in the browser (no passkey for this site,
        // dismissed) is not something the person did: stay quiet and leave the button.
        if (err && err.name === 'NotAllowedError') {
          setBusy(button, false);
          return;
        }
        showError(messageFor(err, 'get'));
        setBusy(button, false);
      } finally {
        if (conditional === ctrl) conditional = null;
      }
    }
  }

  function setupSignup() {
    const button = document.getElementById('signup');
    if (!button) return; // registration closed: no form
    const email = document.getElementById('email');
    const name = document.getElementById('display-name');
    const urls = endpoints('signup');

    button.addEventListener('click', () => {
      const value = email ? email.value.trim() : '';
      if (!value || (email && !email.checkValidity())) {
        showError(MESSAGES.emailRequired);
        if (email) email.focus();
        return;
      }
      const body = {
        email: value,
        display_name: name ? name.value.trim() : '',
        invite: root.dataset.invite || '',
      };
      run(button, 'create', () => ceremony('create', urls.begin, urls.finish, body));
    });

    for (const input of [email, name]) {
      if (!input) continue;
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.isComposing) {
          e.preventDefault();
          button.click();
        }
      });
    }

    if (!window.PublicKeyCredential) showError(MESSAGES.unsupported);
  }

  // --- account page ------------------------------------------------------

  // A sign-in whose passkey came from another device (a phone over hybrid, a
  // security key) is remembered for this tab, so the account page can offer
  // once to save a passkey on this device.
  const CROSS_DEVICE_KEY = 'keyward-cross-device-sign-in';

  function noteCrossDevice(cred) {
    try {
      if (cred && cred.authenticatorAttachment === 'cross-platform') sessionStorage.setItem(CROSS_DEVICE_KEY, '1');
    } catch (_) {
      // Storage may be off; the offer is a convenience.
    }
  }

  const ACCOUNT_MESSAGES = {
    stepUp: 'For your security, confirm it is you with your passkey, then try again.',
    confirmRemove: 'Press again to remove this passkey.',
    confirmRemoveCurrent: 'You signed in with this passkey: removing it signs you out here. Press again to remove it.',
  };

  // signal tells the browser's passkey manager what this account accepts
  // (WebAuthn Signal API), so it stops offering removed passkeys and shows
  // the current name. Each call is feature-detected; failures are ignored:
  // the server refuses removed passkeys whatever the manager shows.
  function signal(method, details) {
    const fn = window.PublicKeyCredential && PublicKeyCredential[method];
    if (typeof fn !== 'function') return Promise.resolve(false);
    return Promise.resolve()
      .then(() => fn.call(PublicKeyCredential, details))
      .then(() => true, () => false);
  }

  function acceptedIDs() {
    return Array.from(document.querySelectorAll('#passkeys tr.passkey'))
      .map((row) => row.dataset.passkeyId || '')
      .filter((id) => id !== '');
  }

  function signalAccount(accepted) {
    const rpId = root.dataset.rpId || '';
    const userId = root.dataset.userId || '';
    if (!rpId || !userId) return Promise.resolve();
    const jobs = [
      signal('signalCurrentUserDetails', {
        rpId,
        userId,
        name: root.dataset.userName || '',
        displayName: root.dataset.displayName || root.dataset.userName || '',
      }),
    ];
    // An empty list would tell the manager to drop every passkey: never send one.
    if (accepted.length > 0) {
      jobs.push(signal('signalAllAcceptedCredentials', { rpId, userId, allAcceptedCredentialIds: accepted }));
    }
    return Promise.all(jobs);
  }

  function showNotice(text) {
    const box = document.getElementById('notice');
    if (box) box.textContent = text || '';
  }

  function setupAccount() {
    // showStepUp asks for the passkey check; the person repeats the change
    // once the page has reloaded with the new session.
    function showStepUp() {
      const panel = document.getElementById('step-up');
      if (panel) {
        panel.hidden = false;
        const button = document.getElementById('step-up-confirm');
        if (button) button.focus();
      } else {
        showError(ACCOUNT_MESSAGES.stepUp);
      }
    }

    // act runs one change; a step_up_required answer asks for the passkey
    // check instead of showing an error.
    async function act(button, kind, start) {
      if (button && button.disabled) return;
      setBusy(button, true);
      showError('');
      showNotice('');
      try {
        follow(await start());
      } catch (err) {
        setBusy(button, false);
        if (err instanceof CeremonyError && err.code === 'step_up_required') {
          showStepUp();
          return;
        }
        showError(messageFor(err, kind));
      }
    }

    // stepUp proves presence again with one of the account's passkeys: the
    // step-up ceremony, or where the server has none, a sign-in limited to
    // this account's passkeys (email-first). Both rotate the session and its
    // CSRF token, so the page reloads before the change is retried.
    async function stepUp() {
      try {
        return await ceremony('get', '/webauthn/stepup/begin', '/webauthn/stepup/finish', {});
      } catch (err) {
        const missing = err instanceof CeremonyError && (err.code === 'http_404' || err.code === 'not_found' || err.code === 'method_not_allowed');
        if (!missing) throw err;
      }
      return ceremony('get', '/webauthn/login/begin', '/webauthn/login/finish', { email: root.dataset.userName || '' });
    }

    const confirm = document.getElementById('step-up-confirm');
    if (confirm) {
      confirm.addEventListener('click', () => {
        run(confirm, 'get', async () => {
          await stepUp();
          return { redirect_to: '/account?notice=step_up_done' };
        });
      });
    }

    function addPasskey(button) {
      act(button, 'create', () => ceremony('create', '/account/passkeys/begin', '/account/passkeys/finish', {}));
    }
    const add = document.getElementById('add-passkey');
    if (add) add.addEventListener('click', () => addPasskey(add));

    // Forms work without script; with it they answer in place as JSON.
    for (const form of document.querySelectorAll('#ceremony form[method="post"]')) {
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const button = form.querySelector('button[type="submit"]');
        if (form.classList.contains('passkey-revoke') && button && button.dataset.armed !== '1') {
          button.dataset.armed = '1';
          button.textContent = 'Remove now';
          showError('');
          showNotice(form.dataset.current === 'true' ? ACCOUNT_MESSAGES.confirmRemoveCurrent : ACCOUNT_MESSAGES.confirmRemove);
          return;
        }
        const body = {};
        const name = form.querySelector('input[name="name"]');
        if (name) body.name = name.value;
        act(button, 'get', async () => {
          const result = await postJSON(form.getAttribute('action'), body);
          if (form.classList.contains('passkey-revoke')) {
            const rpId = root.dataset.rpId || '';
            if (rpId && typeof result.revoked === 'string') {
              await signal('signalUnknownCredential', { rpId, credentialId: result.revoked });
            }
            if (Array.isArray(result.accepted_credential_ids)) await signalAccount(result.accepted_credential_ids);
          }
          return result;
        });
      });
    }

    if (!window.PublicKeyCredential) {
      if (add) add.disabled = true;
      showError(MESSAGES.unsupported);
      return;
    }
    signalAccount(acceptedIDs());
    offerPasskeyHere(addPasskey);
  }

  // offerPasskeyHere shows, once, the offer to save a passkey on this device
  // after a sign-in that used another device's passkey. The page leaves the
  // offer out when it shows a security warning.
  async function offerPasskeyHere(addPasskey) {
    const panel = document.getElementById('offer-passkey');
    let noted = false;
    try {
      noted = sessionStorage.getItem(CROSS_DEVICE_KEY) === '1';
      sessionStorage.removeItem(CROSS_DEVICE_KEY);
    } catch (_) {
      return;
    }
    if (!panel || !noted) return;
    const current = document.querySelector('#passkeys tr.passkey[aria-current="true"]');
    const transports = current ? (current.dataset.transports || '').split(' ') : [];
    if (transports.includes('internal') && !transports.includes('hybrid')) return; // it was this device
    const platform = PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable;
    let ok = false;
    try {
      ok = typeof platform === 'function' && (await platform.call(PublicKeyCredential));
    } catch (_) {
      ok = false;
    }
    if (!ok) return;
    panel.hidden = false;
    const yes = document.getElementById('offer-add');
    const no = document.getElementById('offer-dismiss');
    if (yes) yes.addEventListener('click', () => addPasskey(yes));
    if (no) no.addEventListener('click', () => { panel.hidden = true; });
  }

  window.keyward = Object.freeze({ ceremony, postJSON, follow, messageFor, showError, setBusy, run, withInteraction });

  if (!root) return;
  switch (root.dataset.mode) {
    case 'login':
      setupLogin();
      break;
    case 'signup':
      setupSignup();
      break;
    case 'account':
      setupAccount();
      break;
    default:
      break;
  }
})();
