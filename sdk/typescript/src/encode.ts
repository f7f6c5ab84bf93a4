/**
 * camelCase options to snake_case wire bodies.
 *
 * @module
 * @internal
 */

import type { JailLimits } from "./options.js";

/** `fields` without its `undefined` entries. */
export function compact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** The wire fields of {@link JailLimits}. */
export function limitFields(options: JailLimits): Record<string, unknown> {
  return {
    timeout_secs: options.timeoutSecs,
    memory_mb: options.memoryMb,
    network: options.network,
    seccomp: options.seccomp,
    cpu_percent: options.cpuPercent,
    max_pids: options.maxPids,
  };
}

/** One path segment: an id or a name, escaped. */
export function segment(id: string | number): string {
  const text = String(id);
  if (text.length === 0) throw new TypeError("an id must not be empty");
  return encodeURIComponent(text);
}
