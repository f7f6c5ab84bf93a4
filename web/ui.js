// Shared pieces of the console's pages: errors with their request id,
// buttons that show progress, badges, tables, formatting and polling.

import { html, useState, useEffect, useRef, useCallback } from './vendor/preact-htm.js';
import { api } from './api.js';

export { html, useState, useEffect, useRef, useCallback };

/** An error box: the message, the code and the request id to quote. */
export function ErrorBox({ error, onClose }) {
  if (!error) return null;
  return html`<div class="error" role="alert">
    <strong>${error.code || 'Error'}</strong> ${error.message}
    ${error.requestId && html`<span class="muted"> · request ${error.requestId}</span>`}
    ${onClose && html`<button class="link" onClick=${onClose} aria-label="dismiss">×</button>`}
  </div>`;
}

/**
 * A button running an async action: disabled with `busyLabel` while it
 * runs; a failure goes to `onError`.
 */
export function Action({ run, children, busyLabel, onError, kind = '', confirm, title, disabled, testid }) {
  const [busy, setBusy] = useState(false);
  const click = async (event) => {
    event.preventDefault();
    if (confirm && !window.confirm(confirm)) return;
    setBusy(true);
    try {
      await run();
    } catch (error) {
      if (onError) onError(error); else throw error;
    } finally {
      setBusy(false);
    }
  };
  return html`<button class=${kind} onClick=${click} disabled=${busy || disabled} title=${title}
    data-testid=${testid} aria-busy=${busy}>
    ${busy ? html`<span class="spinner"></span> ${busyLabel || children}` : children}
  </button>`;
}

export function Badge({ value }) {
  return html`<span class=${`badge badge-${String(value).replace(/[^a-z_]/gi, '')}`}>${value}</span>`;
}

/**
 * A drop-down of `options` (values, or `[value, label]` pairs) whose
 * choice is marked on the options themselves, so it shows from the first
 * render. `onChange` gets the chosen value.
 */
export function Select({ value, onChange, options, testid }) {
  return html`<select data-testid=${testid} onChange=${(e) => onChange(e.target.value)}>
    ${options.map((option) => {
      const [optionValue, label] = Array.isArray(option) ? option : [option, option];
      return html`<option value=${optionValue} selected=${optionValue === value}>${label}</option>`;
    })}
  </select>`;
}

/** An empty state: what is missing and what to do next. */
export function Empty({ children }) {
  return html`<div class="empty">${children}</div>`;
}

/** Calls `load` now and every `ms` while mounted (and on `deps` change). */
export function usePoll(load, ms, deps = []) {
  useEffect(() => {
    let stopped = false;
    let timer;
    const tick = async () => {
      try { await load(); } finally { if (!stopped && ms) timer = setTimeout(tick, ms); }
    };
    tick();
    return () => { stopped = true; clearTimeout(timer); };
  }, deps);
}

/**
 * `GET path`, now and every `every` ms (0: once; again when `path` or
 * `deps` change): [the answer passed through `pick`, a reload]. Failures
 * go to `report`.
 */
export function useApi(path, { pick = (answer) => answer, report, every = 0, deps = [] }) {
  const [value, setValue] = useState(null);
  const load = async () => {
    try { setValue(pick(await api('GET', path))); } catch (e) { report(e); }
  };
  usePoll(load, every, [path, ...deps]);
  return [value, load];
}

/** State for a page's last error plus a setter that accepts any thrown value. */
export function useError() {
  const [error, setError] = useState(null);
  const report = useCallback((e) => {
    if (e && e.name === 'AbortError') return;
    setError(e ? { code: e.code, message: e.message || String(e), requestId: e.requestId } : null);
  }, []);
  return [error, report];
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit && value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function when(value) {
  if (!value) return '—';
  const date = typeof value === 'number' ? new Date(value) : new Date(value);
  return date.toLocaleString();
}

export function ms(value) {
  if (value === null || value === undefined) return '—';
  return value < 1000 ? `${value} ms` : `${(value / 1000).toFixed(1)} s`;
}

/**
 * A small SVG bar chart: `bars` of {label, values: [n...]} stacked in
 * `colors`, in at least `slots` columns (so a few bars stay narrow).
 */
export function BarChart({ bars, colors, title, legend = [], slots = 24, axis }) {
  const height = 100;
  const max = Math.max(1, ...bars.map((b) => b.values.reduce((a, v) => a + v, 0)));
  const columns = Math.max(bars.length, slots);
  const width = columns * 10;
  return html`<figure class="chart">
    <figcaption>${title} <span class="muted small">(max ${max})</span></figcaption>
    <svg viewBox=${`0 0 ${width} ${height}`} preserveAspectRatio="none" role="img" aria-label=${title}>
      ${bars.map((bar, i) => {
        let y = height;
        return bar.values.map((v, k) => {
          const h = (v / max) * height;
          y -= h;
          return html`<rect x=${i * 10 + 1} y=${y} width="8" height=${h} fill=${colors[k]}>
            <title>${bar.label}: ${bar.values.join(' / ')}</title></rect>`;
        });
      })}
    </svg>
    ${bars.length > 0 && html`<div class="axis"><span>${axis ? axis[0] : bars[0].label}</span><span>${axis ? axis[1] : bars[bars.length - 1].label}</span></div>`}
    <div class="legend">${legend.map((name, k) => html`<span><i style=${`background:${colors[k]}`}></i>${name}</span>`)}</div>
  </figure>`;
}

/** Pretty JSON in a collapsible block. */
export function Json({ value, open = false, summary = 'JSON' }) {
  return html`<details open=${open}><summary>${summary}</summary><pre class="json">${JSON.stringify(value, null, 2)}</pre></details>`;
}
