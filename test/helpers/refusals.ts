// Shared by the bad-input suites (errors.test.ts, pq-errors.test.ts): how one refusal is checked, the case record of
// the tables, and the case generators that are the same for every class.
import { expect } from 'vitest';
import { memoryStats, VQError, type VQErrorCode } from '../../dist/index.js';

export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** The code of the VQError fn throws, undefined when it returns; anything else it throws is rethrown. */
export function codeOf(fn: () => unknown): string | undefined {
  const e = thrown(fn);
  if (e === undefined || e instanceof VQError) return e?.code;
  throw e;
}

export type Part = string | RegExp;

/** Checks one refusal: VQError, code, `where:` prefix, a `(got ..., expected ...)` clause, and the given fragments. */
export function checkRefusal(e: unknown, code: VQErrorCode, where: string, parts: readonly Part[]): void {
  const label = `${where} -> ${code}`;
  expect(e, `${label}: the call did not throw`).toBeDefined();
  expect(e, `${label}: a raw WebAssembly trap escaped`).not.toBeInstanceOf(WebAssembly.RuntimeError);
  const shown = e instanceof Error ? `${e.name} ${(e as { code?: string }).code ?? ''}: ${e.message}` : String(e);
  expect(e instanceof VQError, `${label}: got ${shown}`).toBe(true);
  const err = e as VQError;
  expect(err.name, `${label}: name`).toBe('VQError');
  expect(err.code, `${label}: ${err.message}`).toBe(code);
  expect(err.message.startsWith(`${where}:`), `${label}: message should start with "${where}:" (${err.message})`).toBe(true);
  expect(err.message, `${label}: message should say what was got and expected`).toMatch(/\(got .+, expected .+\)/s);
  for (const p of parts) {
    if (typeof p === 'string') expect(err.message, label).toContain(p);
    else expect(err.message, label).toMatch(p);
  }
}

export function expectRefusal(fn: () => unknown, code: VQErrorCode, where: string, parts: readonly Part[] = []): void {
  checkRefusal(thrown(fn), code, where, parts);
}

export interface Case {
  name: string;
  call: () => unknown;
  code: VQErrorCode;
  where: string;
  parts: Part[];
}

/** [name, case] pairs for it.each. */
export function named(cases: Case[]): [string, Case][] {
  return cases.map((c) => [c.name, c]);
}

export const NON_FINITE: { label: string; v: number; got: RegExp }[] = [
  { label: 'NaN', v: NaN, got: /got NaN/ },
  { label: 'Infinity', v: Infinity, got: /got Infinity/ },
  { label: '-Infinity', v: -Infinity, got: /got -Infinity/ },
];

/** A short label of a bad value for test names. */
export function label(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (Array.isArray(v)) return `[${v.join(', ')}]`;
  if (typeof v === 'bigint') return `${v}n`;
  if (v !== null && typeof v === 'object') return '{}';
  return String(v);
}

/** Bad values for an integer argument in [min, max]; `undefined` and `null` only when the argument is required. */
export function intCases(where: string, arg: string, min: number, max: number | null, call: (bad: unknown) => unknown, opts: { required?: boolean } = {}): Case[] {
  const values: { label: string; v: unknown; got: RegExp }[] = [
    { label: `${min - 1}`, v: min - 1, got: new RegExp(`got ${min - 1}\\b`) },
    { label: `${min + 0.5}`, v: min + 0.5, got: new RegExp(`got ${String(min + 0.5).replace('.', '\\.')}`) },
    { label: 'NaN', v: NaN, got: /got NaN/ },
    { label: 'Infinity', v: Infinity, got: /got Infinity/ },
    { label: '-Infinity', v: -Infinity, got: /got -Infinity/ },
    { label: `'${min + 1}' (a string)`, v: String(min + 1), got: new RegExp(`got "${min + 1}"`) },
    { label: '{}', v: {}, got: /got an object/ },
    { label: '[]', v: [], got: /got an Array/ },
    { label: 'true', v: true, got: /got true/ },
    { label: 'a BigInt', v: BigInt(min + 1), got: new RegExp(`got ${min + 1}\\b`) },
  ];
  if (min - 1 !== -1) values.push({ label: '-1', v: -1, got: /got -1\b/ });
  if (max !== null) values.push({ label: `${max + 1}`, v: max + 1, got: new RegExp(`got ${max + 1}\\b`) });
  // an optional option given null or undefined takes its default (the `??` convention of every options object)
  if (opts.required) values.push({ label: 'undefined', v: undefined, got: /got undefined/ }, { label: 'null', v: null, got: /got null/ });
  return values.map((b) => ({
    name: `${arg} = ${b.label}`,
    call: () => call(b.v),
    code: 'INVALID_OPTION' as const,
    where,
    parts: [arg, b.got, /expected an integer/],
  }));
}

/** Values outside `allowed` for a string option: the message must list every allowed value. */
export function oneOfCases(where: string, arg: string, allowed: readonly string[], bad: unknown[], call: (bad: unknown) => unknown): Case[] {
  return bad.map((v) => ({
    name: `${arg} = ${label(v)}`,
    call: () => call(v),
    code: 'INVALID_OPTION' as const,
    where,
    parts: [arg, ...allowed.map((a) => `'${a}'`)],
  }));
}

export interface Alloc {
  liveAllocations: number;
  liveBytes: number;
}

export function allocState(): Alloc {
  const s = memoryStats();
  return { liveAllocations: s.liveAllocations, liveBytes: s.liveBytes };
}
