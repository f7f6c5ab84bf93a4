// Run code: a one-shot jail whose output streams in as it is written.
// Leaving the page or pressing Stop ends the stream, and with it the jail.

import { scoped, stream } from '../api.js';
import { html, useState, useEffect, useRef, useError, ErrorBox, Badge, Select, bytes, ms } from '../ui.js';

const LANGUAGES = ['bash', 'python', 'javascript'];
/** Lines of output kept on the page (the ledger keeps the first 16 KiB). */
const MAX_LINES = 5000;

export function Runs() {
  const [language, setLanguage] = useState('bash');
  const [code, setCode] = useState('echo "hello from a jail"\nuname -a');
  const [network, setNetwork] = useState('none');
  const [domains, setDomains] = useState('');
  const [timeout, setTimeoutSecs] = useState(30);
  const [run, setRun] = useState(null);
  const [error, report] = useError();
  const [controller, setController] = useState(null);
  // The stream in flight, ended when the page goes away.
  const live = useRef(null);
  useEffect(() => () => live.current && live.current.abort(), []);
  const start = async (event) => {
    event.preventDefault();
    report(null);
    const current = new AbortController();
    setController(current);
    live.current = current;
    let state = { id: null, lines: [], stats: null, done: null, stopped: false };
    setRun(state);
    const update = (change) => {
      state = { ...state, ...change };
      if (state.lines.length > MAX_LINES) state.lines = state.lines.slice(-MAX_LINES);
      setRun(state);
    };
    try {
      await stream('POST', scoped('/v1/runs/stream'), {
        code, language, timeout_secs: Number(timeout),
        network: network === 'allowlist' ? { mode: network, domains: domains.split(/[\s,]+/).filter(Boolean) } : { mode: network },
      }, (name, data) => {
        if (name === 'started') update({ id: JSON.parse(data).id });
        else if (name === 'stdout' || name === 'stderr') update({ lines: [...state.lines, [name, data]] });
        else if (name === 'stats') update({ stats: JSON.parse(data) });
        else if (name === 'egress') {
          const attempt = JSON.parse(data);
          update({ lines: [...state.lines, ['egress', `egress: ${attempt.method} ${attempt.host}:${attempt.port} ${attempt.outcome}${attempt.reason ? ` (${attempt.reason})` : ''}`]] });
        }
        else if (name === 'completed') update({ done: JSON.parse(data) });
        else if (name === 'error') {
          const body = JSON.parse(data);
          update({ done: { error: body } });
          report({ code: body.code, message: body.error || body.message || data });
        }
      }, current.signal);
    } catch (e) {
      if (e.name === 'AbortError') update({ stopped: true }); else report(e);
    } finally {
      live.current = null;
      setController(null);
    }
  };
  const running = Boolean(controller);
  return html`<h1>Run code</h1>
    <p class="muted">Each run is a fresh jail: its own namespaces, seccomp, Landlock and cgroup limits. Nothing it writes survives it; use a <a href="#/workspaces">workspace</a> for that.</p>
    <${ErrorBox} error=${error} />
    <form class="stack" onSubmit=${start}>
      <div class="row">
        <label>language <${Select} value=${language} onChange=${setLanguage} testid="run-language" options=${LANGUAGES} /></label>
        <label>network <${Select} value=${network} onChange=${setNetwork} options=${['none', 'loopback', 'allowlist']} testid="run-network" /></label>
        ${network === 'allowlist' && html`<label>domains <input value=${domains} onInput=${(e) => setDomains(e.target.value)} placeholder="pypi.org, *.github.com" data-testid="run-domains" /></label>`}
        <label>timeout (s) <input type="number" min="1" max="3600" value=${timeout} onInput=${(e) => setTimeoutSecs(e.target.value)} /></label>
      </div>
      <textarea class="code" rows="8" value=${code} onInput=${(e) => setCode(e.target.value)} data-testid="run-code" spellcheck="false"></textarea>
      <div class="row">
        <button class="primary" type="submit" disabled=${running} data-testid="run-submit">${running ? 'Running…' : 'Run'}</button>
        ${running && html`<button type="button" onClick=${() => controller.abort()} data-testid="run-stop">Stop</button>`}
      </div>
    </form>
    ${run && html`<section>
      <h2>Output ${run.id && html`<a class="small" href=${`#/ledger/${run.id}`} data-testid="run-ledger-link">ledger #${run.id}</a>`}</h2>
      <pre class="output" data-testid="run-output">${run.lines.map(([kind, text]) => html`<span class=${kind}>${`${text}\n`}</span>`)}</pre>
      ${run.stopped && html`<p data-testid="run-stopped">Stopped: the jail was killed (its ledger row says <code>cancelled</code>).</p>`}
      ${run.stats && !run.done && !run.stopped && html`<p class="small muted">memory ${bytes(run.stats.memory_current_bytes)} · CPU ${ms(Math.round(run.stats.cpu_usage_usec / 1000))} · processes ${run.stats.pids_current}</p>`}
      ${run.done && !run.done.error && html`<p data-testid="run-done">exit code <b>${run.done.exit_code}</b> <${Badge} value=${run.done.exit_code === 0 ? 'completed' : 'error'} />
        · ${ms(run.done.duration_ms)} · memory peak ${bytes(run.done.memory_peak_bytes)}${run.done.timed_out ? ' · timed out' : ''}${run.done.oom_killed ? ' · killed for memory' : ''}</p>`}
    </section>`}`;
}
