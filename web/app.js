// The console's shell: sign-in, navigation, the admin's tenant switch and
// the hash router that picks a page.

import { render } from './vendor/preact-htm.js';
import { api, auth, onUnauthorized } from './api.js';
import { html, useState, useEffect, ErrorBox, Select, useError } from './ui.js';
import { Overview } from './pages/overview.js';
import { Workspaces } from './pages/workspaces.js';
import { WorkspacePage } from './pages/workspace.js';
import { Runs } from './pages/runs.js';
import { Ledger, JailDetail } from './pages/ledger.js';
import { Credentials, Sessions, Keys, Audit } from './pages/access.js';

const NAV = [
  ['overview', 'Overview'],
  ['workspaces', 'Workspaces'],
  ['runs', 'Run code'],
  ['ledger', 'Ledger'],
  ['credentials', 'Credentials'],
  ['sessions', 'Sessions'],
  ['keys', 'Keys'],
  ['audit', 'Audit'],
];

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash.replace(/^#\/?/, '').split('/').map((part) => {
    try { return decodeURIComponent(part); } catch { return part; }
  });
}

function SignIn({ onSignedIn, reason }) {
  const [key, setKey] = useState('');
  const [error, report] = useError();
  const submit = async (event) => {
    event.preventDefault();
    auth.key = key.trim();
    try {
      const me = await api('GET', '/v1/whoami');
      onSignedIn(me);
    } catch (e) {
      auth.signOut();
      report(e);
    }
  };
  return html`<main class="signin">
    <form onSubmit=${submit} autocomplete="off">
      <h1>paddock</h1>
      <p class="muted">Sign in with an API key. It is kept in this tab only and sent as a Bearer header; closing the tab forgets it.</p>
      ${reason && html`<div class="error" role="alert">${reason}</div>`}
      <${ErrorBox} error=${error} />
      <label>API key <input type="password" name="key" value=${key} onInput=${(e) => setKey(e.target.value)} required autofocus /></label>
      <button class="primary" type="submit">Sign in</button>
    </form>
  </main>`;
}

function TenantSwitch({ me, onChange }) {
  const [tenants, setTenants] = useState([]);
  useEffect(() => {
    if (me.role !== 'admin') return;
    api('GET', '/v1/keys').then((keys) => {
      setTenants([...new Set(keys.map((k) => k.tenant))].sort());
    }).catch(() => {});
  }, []);
  if (me.role !== 'admin') return html`<span class="tenant">tenant <b>${me.tenant}</b> · ${me.role}</span>`;
  return html`<label class="tenant">acting for
    <${Select} testid="tenant-switch" value=${auth.tenant} onChange=${(value) => { auth.tenant = value; onChange(); }}
      options=${[['', 'every tenant (admin)'], ...tenants]} /></label>`;
}

function Page({ route, me }) {
  const [section, id, tab] = route;
  switch (section || 'overview') {
    case 'overview': return html`<${Overview} me=${me} />`;
    case 'workspaces': return id ? html`<${WorkspacePage} key=${id} id=${id} tab=${tab || 'terminal'} me=${me} />` : html`<${Workspaces} me=${me} />`;
    case 'runs': return html`<${Runs} me=${me} />`;
    case 'ledger': return id ? html`<${JailDetail} key=${id} id=${id} />` : html`<${Ledger} me=${me} />`;
    case 'credentials': return html`<${Credentials} me=${me} />`;
    case 'sessions': return html`<${Sessions} me=${me} />`;
    case 'keys': return html`<${Keys} me=${me} />`;
    case 'audit': return html`<${Audit} me=${me} />`;
    default: return html`<p>No such page. <a href="#/overview">Go to the overview</a>.</p>`;
  }
}

function App() {
  const route = useHash();
  const [me, setMe] = useState(null);
  const [checking, setChecking] = useState(Boolean(auth.key));
  const [reason, setReason] = useState('');
  const [generation, setGeneration] = useState(0);
  useEffect(() => onUnauthorized((message) => {
    auth.signOut();
    setMe(null);
    setReason(`Signed out: ${message}`);
  }), []);
  useEffect(() => {
    if (!auth.key) return;
    api('GET', '/v1/whoami').then(setMe).catch((e) => {
      // A refused key is forgotten; a server that is down or restarting is not a reason to.
      if (e.status === 401) auth.signOut(); else setReason(`The server did not answer (${e.message}); reload to retry.`);
    }).finally(() => setChecking(false));
  }, []);
  if (checking) return html`<p class="muted pad">Loading…</p>`;
  if (!me) return html`<${SignIn} reason=${reason} onSignedIn=${(who) => { setReason(''); setMe(who); }} />`;
  const section = route[0] || 'overview';
  return html`<div class="shell">
    <nav>
      <a class="brand" href="#/overview">paddock</a>
      ${NAV.map(([path, name]) => html`<a href=${`#/${path}`} class=${section === path ? 'active' : ''}>${name}</a>`)}
    </nav>
    <div class="main">
      <header>
        <${TenantSwitch} me=${me} onChange=${() => setGeneration(generation + 1)} />
        <button class="link" data-testid="sign-out" onClick=${() => { auth.signOut(); setMe(null); }}>Sign out</button>
      </header>
      <main key=${generation}><${Page} route=${route} me=${me} /></main>
    </div>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
